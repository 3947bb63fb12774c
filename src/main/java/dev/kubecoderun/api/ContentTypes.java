package dev.kubecoderun.api;

import dev.kubecoderun.files.MediaType;
import dev.kubecoderun.files.StoredFile;
import java.net.URLConnection;

/**
 * The Content-Type of a download: the stored one, else a guess from the extension. A stored one
 * that is no media type (kept by an earlier release, which stored what the client sent) is not
 * sent: it is not a header value.
 */
final class ContentTypes {
  private ContentTypes() {}

  static String forDownload(StoredFile f) {
    String stored = f.contentType();
    if (MediaType.isValid(stored) && !stored.equals(MediaType.UNKNOWN)) {
      return stored;
    }
    String guess = URLConnection.guessContentTypeFromName(f.name());
    if (guess == null) {
      String lower = f.name().toLowerCase(java.util.Locale.ROOT);
      if (lower.endsWith(".csv")) {
        guess = "text/csv";
      } else if (lower.endsWith(".json")) {
        guess = "application/json";
      } else if (lower.endsWith(".svg")) {
        guess = "image/svg+xml";
      } else if (lower.endsWith(".md")) {
        guess = "text/markdown";
      }
    }
    return guess != null ? guess : "application/octet-stream";
  }
}
