package dev.kubecoderun.stores;

import dev.kubecoderun.auth.ApiKeyStore;
import dev.kubecoderun.auth.LocalApiKeyStore;
import dev.kubecoderun.files.FileMetadataStore;
import dev.kubecoderun.files.LocalFileMetadataStore;
import dev.kubecoderun.files.LocalObjectStore;
import dev.kubecoderun.files.ObjectStore;
import dev.kubecoderun.session.LocalSessionLocks;
import dev.kubecoderun.session.LocalSessionStore;
import dev.kubecoderun.session.SessionLocks;
import dev.kubecoderun.session.SessionStore;
import dev.kubecoderun.state.LocalStateStore;
import dev.kubecoderun.state.StateStore;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.io.TempDir;

/** The store contracts against the embedded stores (memory and local disk). */
class LocalStoresTest {
  @TempDir static Path dataDir;

  /** One process: every replica() is the same store. */
  @Nested
  class Programmatic extends ProgrammaticStoreContract {
    private final dev.kubecoderun.execution.ProgrammaticStore store =
        new dev.kubecoderun.execution.LocalProgrammaticStore();

    @Override
    dev.kubecoderun.execution.ProgrammaticStore replica() {
      return store;
    }
  }

  @Nested
  class Sessions extends SessionStoreContract {
    private final SessionStore store = new LocalSessionStore(dataDir);

    @Override
    SessionStore store() {
      return store;
    }
  }

  @Nested
  class FileMetadata extends FileMetadataStoreContract {
    private final FileMetadataStore store = new LocalFileMetadataStore(dataDir);

    @Override
    FileMetadataStore store() {
      return store;
    }
  }

  @Nested
  class Objects extends ObjectStoreContract {
    private final ObjectStore store = new LocalObjectStore(dataDir);

    @Override
    ObjectStore store() {
      return store;
    }
  }

  @Nested
  class States extends StateStoreContract {
    @Override
    StateStore store(Duration ttl) {
      return new LocalStateStore(dataDir, ttl, Clock.systemUTC());
    }
  }

  @Nested
  class ApiKeys extends ApiKeyStoreContract {
    private final ApiKeyStore store = new LocalApiKeyStore(Clock.systemUTC());

    @Override
    ApiKeyStore store() {
      return store;
    }
  }

  /** One process: every "replica" is the same in-process locks. */
  @Nested
  class Locks extends SessionLocksContract {
    private final SessionLocks locks = new LocalSessionLocks();

    @Override
    SessionLocks replica() {
      return locks;
    }
  }
}
