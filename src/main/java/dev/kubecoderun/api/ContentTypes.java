package dev.kubecoderun.api;

import dev.kubecoderun.files.StoredFile;
import java.net.URLConnection;

/** The Content-Type of a download: the stored one, else a guess from the extension. */
final class ContentTypes {
  private ContentTypes() {}

  static String forDownload(StoredFile f) {
    String stored = f.contentType();
    if (stored != null && !stored.isBlank() && !stored.equals("application/octet-stream")) {
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
