package dev.kubecoderun.common;

import java.security.SecureRandom;
import java.util.HexFormat;

/** Secret or unguessable values (tokens, ids, name suffixes) as lower-case hex. */
public final class RandomHex {
  private static final SecureRandom RANDOM = new SecureRandom();

  private RandomHex() {}

  /** {@code bytes} random bytes in hex ({@code 2 * bytes} characters). */
  public static String of(int bytes) {
    byte[] b = new byte[bytes];
    RANDOM.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }
}
