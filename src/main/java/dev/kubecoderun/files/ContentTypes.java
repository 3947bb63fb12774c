package dev.kubecoderun.files;

import java.net.URLConnection;
import java.util.Locale;

/**
 * The Content-Type of a stored file, decided here only: a file a run wrote is typed from its name
 * when it is stored, and the listings and the download all show {@link #of}, so they never differ.
 */
public final class ContentTypes {
  private ContentTypes() {}

  /**
   * The type the name's extension stands for ({@code summary.csv}: {@code text/csv}), else {@link
   * MediaType#UNKNOWN}.
   */
  public static String fromName(String name) {
    String guess = URLConnection.guessContentTypeFromName(name);
    if (guess != null) {
      return guess;
    }
    // Not in every JDK's table.
    String lower = name.toLowerCase(Locale.ROOT);
    if (lower.endsWith(".csv")) {
      return "text/csv";
    } else if (lower.endsWith(".json")) {
      return "application/json";
    } else if (lower.endsWith(".svg")) {
      return "image/svg+xml";
    } else if (lower.endsWith(".md")) {
      return "text/markdown";
    }
    return MediaType.UNKNOWN;
  }

  /**
   * The type of a stored file as the API shows it: the stored one (an upload's is the one its
   * client sent), unless that says nothing, none or {@link MediaType#UNKNOWN} (every output stored
   * before outputs were typed, an upload sent as bytes), or is no media type (an earlier release
   * stored what the client sent, and it is no header value): then the name's.
   */
  public static String of(StoredFile f) {
    String stored = f.contentType();
    if (MediaType.isValid(stored) && !stored.equals(MediaType.UNKNOWN)) {
      return stored;
    }
    return fromName(f.name());
  }
}
