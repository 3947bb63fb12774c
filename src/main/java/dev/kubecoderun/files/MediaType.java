package dev.kubecoderun.files;

import java.util.regex.Pattern;

/**
 * The Content-Type a client gives a file, kept only when it is a media type: it goes out again as a
 * header (to S3 when stored, to the client when downloaded), and a header value with a control
 * character or a byte that is not ASCII is refused there (minio's HTTP client throws, the upload
 * would be a storage failure). Anything else is stored as {@code application/octet-stream}: the
 * upload still works, and a download guesses the type from the name.
 */
public final class MediaType {
  /** What a file without a usable type is stored as. */
  public static final String UNKNOWN = "application/octet-stream";

  /** Longer is no type a client means: a header, not a place to keep data. */
  static final int MAX_LENGTH = 255;

  private static final String TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
  // Printable ASCII within the quotes (a quote or backslash escaped), as RFC 9110 has it but for
  // obs-text: no byte past 0x7e.
  private static final String QUOTED = "\"(?:[\\t !#-\\[\\]-~]|\\\\[\\t -~])*\"";

  /** RFC 9110's media-type: {@code type/subtype *( OWS ";" OWS [ name=value ] )}. */
  private static final Pattern VALID =
      Pattern.compile(
          TOKEN
              + "/"
              + TOKEN
              + "(?:[ \\t]*;[ \\t]*(?:"
              + TOKEN
              + "=(?:"
              + TOKEN
              + "|"
              + QUOTED
              + "))?)*");

  private MediaType() {}

  /** Whether {@code value} is a media type that may be sent as a header as it is. */
  public static boolean isValid(String value) {
    return value != null && value.length() <= MAX_LENGTH && VALID.matcher(value).matches();
  }

  /** {@code value} when it is a media type, else {@link #UNKNOWN}. */
  public static String orUnknown(String value) {
    return isValid(value) ? value : UNKNOWN;
  }
}
