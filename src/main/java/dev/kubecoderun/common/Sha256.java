package dev.kubecoderun.common;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** SHA-256 digests of secrets (API keys, runner tokens) as lower-case hex. */
public final class Sha256 {
  private Sha256() {}

  /** The SHA-256 of {@code text}'s UTF-8 bytes, in hex (64 characters). */
  public static String hex(String text) {
    try {
      return HexFormat.of()
          .formatHex(
              MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JVM has SHA-256", e);
    }
  }
}
