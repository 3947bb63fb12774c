package dev.kubecoderun.api;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;
import java.util.Set;

/**
 * The API key some LibreChat builds spread into a JSON body ({@code LIBRECHAT_CODE_API_KEY}, {@code
 * api_key}, {@code apiKey}), found with a streaming scan of the top-level fields: no tree is built
 * before the request is authenticated, and a body that is not an object is given up at its first
 * token. Nesting and string lengths are bounded by the parser's constraints.
 */
final class BodyCredential {
  private static final Set<String> FIELDS = Set.of("LIBRECHAT_CODE_API_KEY", "api_key", "apiKey");

  private static final JsonFactory FACTORY =
      JsonFactory.builder()
          .streamReadConstraints(
              StreamReadConstraints.builder()
                  .maxNestingDepth(200)
                  .maxStringLength(1 << 20)
                  .maxNumberLength(1000)
                  .build())
          .build();

  private BodyCredential() {}

  /** The first non-blank key field of a top-level object, trimmed; null when there is none. */
  static String find(byte[] body) {
    try (JsonParser p = FACTORY.createParser(body)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return null;
      }
      for (JsonToken t = p.nextToken(); t == JsonToken.FIELD_NAME; t = p.nextToken()) {
        String name = p.currentName();
        JsonToken value = p.nextToken();
        if (value == JsonToken.VALUE_STRING && FIELDS.contains(name)) {
          String key = p.getText().trim();
          if (!key.isEmpty()) {
            return key;
          }
        } else {
          p.skipChildren();
        }
      }
      return null;
    } catch (IOException | RuntimeException e) {
      return null; // not JSON, too deep, ...: no key; the handler reports a bad body after auth
    }
  }
}
