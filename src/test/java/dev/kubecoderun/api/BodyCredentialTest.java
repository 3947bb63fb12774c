package dev.kubecoderun.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The key in a JSON body is found without building a tree, at a bounded cost. */
class BodyCredentialTest {
  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void findsTheKeyFieldsOfTheTopLevelObjectOnly() {
    assertEquals(
        "k1", BodyCredential.find(bytes("{\"lang\":\"py\",\"LIBRECHAT_CODE_API_KEY\":\" k1 \"}")));
    assertEquals(
        "k2", BodyCredential.find(bytes("{\"files\":[{\"api_key\":\"no\"}],\"apiKey\":\"k2\"}")));
    assertNull(BodyCredential.find(bytes("{\"nested\":{\"api_key\":\"no\"}}")));
    assertNull(BodyCredential.find(bytes("{\"api_key\":5,\"apiKey\":\"  \"}")));
    assertNull(BodyCredential.find(bytes("[{\"api_key\":\"no\"}]")));
    assertNull(BodyCredential.find(bytes("{\"api_key\":")));
    assertNull(BodyCredential.find(bytes("not json")));
    assertNull(BodyCredential.find(bytes("[".repeat(5000) + "]".repeat(5000))));
    assertNull(BodyCredential.find(bytes("{\"a\":" + "[".repeat(5000) + "]".repeat(5000) + "}")));
  }

  /**
   * A 10 MB body of {@code [{},{},...]} costs almost nothing: it is not an object, so it is given
   * up at its first token (a tree of it would take about 25 times its size). An object of as many
   * fields is skipped without keeping them.
   */
  @Test
  void aHugeBodyIsScannedWithoutHoldingItsStructure() {
    StringBuilder sb = new StringBuilder(10_500_000).append('[');
    while (sb.length() < 10_000_000) {
      sb.append("{},");
    }
    byte[] array = bytes(sb.append("{}]").toString());
    StringBuilder obj = new StringBuilder(10_500_000).append("{\"f\":[");
    while (obj.length() < 10_000_000) {
      obj.append("{},");
    }
    byte[] object = bytes(obj.append("{}],\"apiKey\":\"found\"}").toString());

    // Once small first: class loading and the parser's first buffers are not what is measured.
    BodyCredential.find(bytes("[{},{}]"));
    BodyCredential.find(bytes("{\"f\":[{},{}],\"apiKey\":\"x\"}"));
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long id = Thread.currentThread().threadId();
    long before = threads.getThreadAllocatedBytes(id);
    assertNull(BodyCredential.find(array));
    long arrayCost = threads.getThreadAllocatedBytes(id) - before;
    before = threads.getThreadAllocatedBytes(id);
    assertEquals("found", BodyCredential.find(object));
    long objectCost = threads.getThreadAllocatedBytes(id) - before;
    assertTrue(arrayCost < 256 * 1024, "an array body cost " + arrayCost + " bytes");
    assertTrue(objectCost < 1024 * 1024, "a 10 MB object cost " + objectCost + " bytes");
  }
}
