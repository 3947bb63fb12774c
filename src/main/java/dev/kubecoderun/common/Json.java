package dev.kubecoderun.common;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/** The one JSON mapper of the service. */
public final class Json {
  // Jackson refuses strings over 20M characters by default, and a saved Python state (base64 in
  // the runner's answer) of 15 MB is longer: every text given to this mapper is bounded in bytes
  // before it is parsed (request bodies, runner answers, stored records), and no string can be
  // longer than its text, so the byte bounds are the ones that count.
  public static final ObjectMapper MAPPER =
      new ObjectMapper(
              JsonFactory.builder()
                  .streamReadConstraints(
                      StreamReadConstraints.builder().maxStringLength(Integer.MAX_VALUE).build())
                  .build())
          .registerModule(new com.fasterxml.jackson.datatype.jsr310.JavaTimeModule())
          .configure(
              com.fasterxml.jackson.databind.SerializationFeature.WRITE_DATES_AS_TIMESTAMPS, false)
          .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

  // document()'s reader, made once: every JSON body is read through it.
  private static final ObjectReader DOCUMENT =
      MAPPER.readerFor(JsonNode.class).with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private Json() {}

  public static byte[] write(Object value) {
    try {
      return MAPPER.writeValueAsBytes(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialise " + value.getClass(), e);
    }
  }

  public static String writeString(Object value) {
    try {
      return MAPPER.writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialise " + value.getClass(), e);
    }
  }

  /**
   * The tokens of a JSON text read from {@code in}, counted without building anything, up to {@code
   * max + 1} (it stops there); malformed JSON throws.
   */
  public static long tokens(InputStream in, long max) throws IOException {
    try (JsonParser p = MAPPER.getFactory().createParser(in)) {
      return tokens(p, max);
    }
  }

  private static long tokens(JsonParser p, long max) throws IOException {
    long n = 0;
    while (n <= max && p.nextToken() != null) {
      n++;
    }
    return n;
  }

  public static JsonNode tree(byte[] bytes) throws IOException {
    return MAPPER.readTree(bytes);
  }

  /**
   * One JSON document: {@link #tree} that also refuses anything but whitespace after the value
   * (readTree reads the first root value and stops, so {@code {...}{...}} would be its first half).
   */
  public static JsonNode document(InputStream in) throws IOException {
    return DOCUMENT.readValue(in);
  }

  public static <T> T read(InputStream in, Class<T> type) {
    try {
      return MAPPER.readValue(in, type);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static <T> T read(byte[] bytes, Class<T> type) {
    try {
      return MAPPER.readValue(bytes, type);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
