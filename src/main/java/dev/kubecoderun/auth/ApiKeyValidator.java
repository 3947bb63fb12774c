package dev.kubecoderun.auth;

/** Decides whether an API key may use the service. */
public interface ApiKeyValidator {
  boolean isValid(String key);
}
