package dev.kubecoderun.config;

/** A configuration value that cannot be used; start-up stops with its message. */
public final class ConfigException extends RuntimeException {
  public ConfigException(String message) {
    super(message);
  }
}
