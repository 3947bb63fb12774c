package dev.kubecoderun.api;

import dev.kubecoderun.auth.Authenticator;
import io.helidon.http.HeaderName;
import io.helidon.http.HeaderNames;
import io.helidon.http.Headers;

/**
 * The credential a request carries in its headers, found the same way for API keys, tokens and the
 * master key: {@code X-API-Key}, else {@code Authorization: Bearer} or {@code ApiKey} (the scheme's
 * name in any case, RFC 9110), trimmed.
 */
record HeaderCredential(String value, Authenticator.From from) {
  private static final HeaderName X_API_KEY = HeaderNames.create("X-API-Key");

  /** Null when the headers carry none. */
  static HeaderCredential of(Headers headers) {
    String key = headers.first(X_API_KEY).orElse(null);
    if (key != null && !key.isEmpty()) {
      return new HeaderCredential(key.trim(), Authenticator.From.KEY_HEADER);
    }
    String auth = headers.first(HeaderNames.AUTHORIZATION).orElse(null);
    if (auth != null) {
      if (auth.regionMatches(true, 0, "Bearer ", 0, 7)) {
        return new HeaderCredential(auth.substring(7).trim(), Authenticator.From.BEARER);
      }
      if (auth.regionMatches(true, 0, "ApiKey ", 0, 7)) {
        return new HeaderCredential(auth.substring(7).trim(), Authenticator.From.KEY_HEADER);
      }
    }
    return null;
  }
}
