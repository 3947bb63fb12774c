package dev.kubecoderun.it;

import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Large test files generated on the fly, never held in memory: byte {@code p} of file {@code seed}
 * is a byte of splitmix64(seed, p / 8), so any slice can be recomputed and the whole hashed.
 */
final class TestData {
  private TestData() {}

  static byte at(long seed, long p) {
    return (byte) (mix(seed * 0x9E3779B97F4A7C15L + (p >>> 3)) >>> ((p & 7) * 8));
  }

  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** The {@code size} bytes of file {@code seed}. */
  static InputStream stream(long seed, long size) {
    return new InputStream() {
      private long pos;

      @Override
      public int read() {
        return pos < size ? at(seed, pos++) & 0xff : -1;
      }

      @Override
      public int read(byte[] b, int off, int len) {
        if (len == 0) {
          return 0;
        }
        if (pos >= size) {
          return -1;
        }
        int n = (int) Math.min(len, size - pos);
        fill(seed, pos, b, off, n);
        pos += n;
        return n;
      }
    };
  }

  /** {@code n} bytes of file {@code seed} from {@code offset}. */
  static byte[] slice(long seed, long offset, int n) {
    byte[] b = new byte[n];
    fill(seed, offset, b, 0, n);
    return b;
  }

  private static void fill(long seed, long p, byte[] b, int off, int n) {
    int i = 0;
    while (i < n && ((p + i) & 7) != 0) {
      b[off + i] = at(seed, p + i);
      i++;
    }
    while (n - i >= 8) {
      long v = mix(seed * 0x9E3779B97F4A7C15L + ((p + i) >>> 3));
      for (int k = 0; k < 8; k++) {
        b[off + i + k] = (byte) (v >>> (k * 8));
      }
      i += 8;
    }
    while (i < n) {
      b[off + i] = at(seed, p + i);
      i++;
    }
  }

  static String sha256(long seed, long size) {
    try (InputStream in = stream(seed, size)) {
      return sha256(in);
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  /** Reads {@code in} to its end and hashes it. */
  static String sha256(InputStream in) throws IOException {
    MessageDigest md = sha256();
    byte[] buf = new byte[64 * 1024];
    for (int n; (n = in.read(buf)) != -1; ) {
      md.update(buf, 0, n);
    }
    return HexFormat.of().formatHex(md.digest());
  }

  static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }
}
