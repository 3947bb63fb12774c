package dev.kubecoderun.api;

import dev.kubecoderun.sandbox.PathEncoding;
import java.text.Normalizer;

/** {@code attachment; filename="ascii"; filename*=UTF-8''percent-encoded} (RFC 6266/5987). */
final class ContentDisposition {
  private ContentDisposition() {}

  static String attachment(String name) {
    String base = name.substring(name.lastIndexOf('/') + 1);
    String ascii =
        Normalizer.normalize(base, Normalizer.Form.NFKD)
            .replaceAll("\\p{M}", "")
            .replace(' ', '_')
            .replaceAll("[^-_.A-Za-z0-9]", "_");
    if (ascii.isEmpty()) {
      ascii = "download";
    }
    return "attachment; filename=\""
        + ascii
        + "\"; filename*=UTF-8''"
        + PathEncoding.encodeSegment(base);
  }
}
