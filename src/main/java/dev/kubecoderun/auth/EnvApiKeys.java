package dev.kubecoderun.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;

/**
 * The keys from API_KEY / API_KEYS. Keys are compared as SHA-256 digests with a constant-time
 * check, so neither a key's content nor its length leaks through timing.
 */
public final class EnvApiKeys {
  private final List<byte[]> digests;

  public EnvApiKeys(List<String> keys) {
    this.digests = keys.stream().map(EnvApiKeys::sha256).toList();
  }

  public boolean isValid(String key) {
    if (key == null || key.isEmpty()) {
      return false;
    }
    byte[] d = sha256(key);
    boolean ok = false;
    for (byte[] known : digests) {
      ok |= MessageDigest.isEqual(known, d);
    }
    return ok;
  }

  static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
