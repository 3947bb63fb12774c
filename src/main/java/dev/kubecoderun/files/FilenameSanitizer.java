package dev.kubecoderun.files;

import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * LibreChat's filename rule, so the name in /mnt/data is the one LibreChat tells the model: the
 * last path component, every character outside {@code [A-Za-z0-9.-]} replaced by {@code _}, a
 * leading dot prefixed with {@code _}, at most 255 characters (extension kept).
 */
public final class FilenameSanitizer {
  private static final int MAX_LENGTH = 255;
  private static final SecureRandom RANDOM = new SecureRandom();

  private FilenameSanitizer() {}

  /**
   * The name an uploaded file is stored, returned and placed in /mnt/data under: a name with a
   * {@code /} that is a clean relative path ({@link RelativePaths#isClean}) as sent, so LibreChat's
   * skill files ({@code skills/<skill name>/scripts/run.py}) land at their path and keep the name
   * the client looks them up by; any other name (no {@code /}, or one that could leave /mnt/data or
   * is not clean: {@code ../../etc/passwd}, {@code /etc/a.txt}, {@code a//b.txt}) {@link #sanitize
   * sanitized}, its last component only.
   */
  public static String uploadName(String name) {
    if (name != null && name.indexOf('/') >= 0 && RelativePaths.isClean(name)) {
      return name;
    }
    return sanitize(name);
  }

  public static String sanitize(String name) {
    if (name == null || name.isEmpty()) {
      return "_";
    }
    String base = name.substring(name.lastIndexOf('/') + 1);
    StringBuilder sb = new StringBuilder(base.length());
    base.codePoints()
        .forEach(
            cp -> {
              boolean ok =
                  (cp >= 'A' && cp <= 'Z')
                      || (cp >= 'a' && cp <= 'z')
                      || (cp >= '0' && cp <= '9')
                      || cp == '.'
                      || cp == '-';
              sb.append(ok ? (char) cp : '_');
            });
    String out = sb.toString();
    if (out.isEmpty()) {
      return "_";
    }
    if (out.startsWith(".")) {
      out = "_" + out;
    }
    if (out.length() > MAX_LENGTH) {
      int dot = out.lastIndexOf('.');
      String ext = dot > 0 ? out.substring(dot) : "";
      int stemLength = Math.max(1, MAX_LENGTH - ext.length() - 7);
      byte[] suffix = new byte[3];
      RANDOM.nextBytes(suffix);
      out = out.substring(0, stemLength) + "-" + HexFormat.of().formatHex(suffix) + ext;
    }
    return out;
  }
}
