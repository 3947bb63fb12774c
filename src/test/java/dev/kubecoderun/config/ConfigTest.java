package dev.kubecoderun.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.execution.Language;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConfigTest {
  private static final String KEY = "k".repeat(20);

  @Test
  void defaultsAreUsableWithJustAKey() {
    Config c = Config.from(Map.of("API_KEY", KEY));
    assertEquals(8000, c.server().port());
    assertEquals(30, c.limits().maxExecutionTime().toSeconds());
    assertEquals(3, c.sandbox().poolSize(Language.PY));
    assertEquals(0, c.sandbox().poolSize(Language.GO));
    assertTrue(c.auth().enabled());
  }

  @Test
  void readsPoolSizesPerLanguage() {
    Config c = Config.from(Map.of("API_KEY", KEY, "POD_POOL_GO", "2", "POD_POOL_PY", "0"));
    assertEquals(2, c.sandbox().poolSize(Language.GO));
    assertEquals(0, c.sandbox().poolSize(Language.PY));
  }

  @Test
  void refusesToStartWithoutAKeyUnlessAuthIsExplicitlyOff() {
    ConfigException e = assertThrows(ConfigException.class, () -> Config.from(Map.of()));
    assertTrue(e.getMessage().contains("API_KEY"));
    assertFalse(Config.from(Map.of("AUTH_ENABLED", "false")).auth().enabled());
  }

  @Test
  void theSandboxFileLimitMustFitTheInputs() {
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                Config.from(
                    Map.of(
                        "API_KEY",
                        KEY,
                        "MAX_FILE_SIZE_MB",
                        "200",
                        "SANDBOX_MAX_FILE_SIZE_MB",
                        "100")));
    assertTrue(e.getMessage().contains("SANDBOX_MAX_FILE_SIZE_MB"));
  }

  @Test
  void badValuesNameTheVariable() {
    assertTrue(
        assertThrows(
                ConfigException.class, () -> Config.from(Map.of("API_KEY", KEY, "API_PORT", "x")))
            .getMessage()
            .contains("API_PORT"));
    assertTrue(
        assertThrows(ConfigException.class, () -> Config.from(Map.of("API_KEY", "short")))
            .getMessage()
            .contains("16"));
    assertTrue(
        assertThrows(
                ConfigException.class,
                () -> Config.from(Map.of("API_KEY", KEY, "MAX_EXECUTION_TIME", "0")))
            .getMessage()
            .contains("MAX_EXECUTION_TIME"));
  }
}
