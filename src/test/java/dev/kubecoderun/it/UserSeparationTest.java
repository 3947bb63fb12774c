package dev.kubecoderun.it;

import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Tag;

/** LibreChat users of one principal kept apart, on the embedded stores and on Redis + S3. */
@Tag("integration")
class UserSeparationTest {
  @Nested
  class EmbeddedStores extends UserSeparationContract {
    @Override
    TestServer server() {
      return TestServer.get();
    }
  }

  @Nested
  class RedisAndS3 extends UserSeparationContract {
    @Override
    TestServer server() {
      return TestServer.withRealStores();
    }
  }
}
