package dev.kubecoderun.it;

import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Tag;

/** Ownership end to end on the embedded stores and on Redis + S3. */
@Tag("integration")
class OwnershipTest {
  @Nested
  class EmbeddedStores extends OwnershipContract {
    @Override
    TestServer server() {
      return TestServer.get();
    }
  }

  @Nested
  class RedisAndS3 extends OwnershipContract {
    @Override
    TestServer server() {
      return TestServer.withRealStores();
    }
  }
}
