package dev.kubecoderun.stores;

import dev.kubecoderun.auth.ApiKeyStore;
import dev.kubecoderun.auth.RedisApiKeyStore;
import dev.kubecoderun.files.FileMetadataStore;
import dev.kubecoderun.files.ObjectStore;
import dev.kubecoderun.files.RedisFileMetadataStore;
import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.session.RedisSessionStore;
import dev.kubecoderun.session.SessionStore;
import dev.kubecoderun.state.RedisStateStore;
import dev.kubecoderun.state.StateArchive;
import dev.kubecoderun.state.StateStore;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Tag;

/**
 * The same store contracts against a real redis-server and a real S3 server (S3Proxy), both started
 * by the tests on free loopback ports.
 */
@Tag("integration")
class RealStoresTest {
  static final RedisConnection REDIS = RealStores.redis(RealStores.uniquePrefix("contract"));
  static final ObjectStore S3 = RealStores.s3("kcr-contract");

  @AfterAll
  static void close() {
    REDIS.close();
  }

  @Nested
  class Sessions extends SessionStoreContract {
    private final SessionStore store = new RedisSessionStore(REDIS, Clock.systemUTC());

    @Override
    SessionStore store() {
      return store;
    }
  }

  @Nested
  class FileMetadata extends FileMetadataStoreContract {
    private final FileMetadataStore store = new RedisFileMetadataStore(REDIS, Duration.ZERO);

    @Override
    FileMetadataStore store() {
      return store;
    }
  }

  @Nested
  class Objects extends ObjectStoreContract {
    @Override
    ObjectStore store() {
      return S3;
    }
  }

  @Nested
  class States extends StateStoreContract {
    @Override
    StateStore store(Duration ttl) {
      return new RedisStateStore(REDIS, ttl, Clock.systemUTC(), null);
    }
  }

  /** With archival on, a state gone from Redis comes back from S3. */
  @Nested
  class ArchivedStates extends StateStoreContract {
    @Override
    StateStore store(Duration ttl) {
      return new RedisStateStore(REDIS, ttl, Clock.systemUTC(), new StateArchive(S3));
    }
  }

  @Nested
  class ApiKeys extends ApiKeyStoreContract {
    private final ApiKeyStore store = new RedisApiKeyStore(REDIS);

    @Override
    ApiKeyStore store() {
      return store;
    }
  }
}
