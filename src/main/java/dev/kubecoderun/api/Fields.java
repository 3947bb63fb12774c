package dev.kubecoderun.api;

import com.fasterxml.jackson.databind.JsonNode;

/** Typed reads of JSON request fields; a missing or wrongly typed field is a 422. */
final class Fields {
  private Fields() {}

  static String requiredString(JsonNode obj, String name) {
    return requiredString(obj, name, name);
  }

  static String requiredString(JsonNode obj, String name, String where) {
    JsonNode v = obj.get(name);
    if (v == null || v.isNull()) {
      throw ApiError.validation(where, "Field required", "missing");
    }
    if (!v.isTextual()) {
      throw ApiError.validation(where, "Input should be a valid string", "string_type");
    }
    return v.asText();
  }

  static String optionalString(JsonNode obj, String name) {
    return optionalString(obj, name, name);
  }

  static String optionalString(JsonNode obj, String name, String where) {
    JsonNode v = obj.get(name);
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.isTextual()) {
      throw ApiError.validation(where, "Input should be a valid string", "string_type");
    }
    return v.asText().isEmpty() ? null : v.asText();
  }
}
