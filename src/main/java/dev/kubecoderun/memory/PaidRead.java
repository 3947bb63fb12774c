package dev.kubecoderun.memory;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * A stream read whole into memory, each piece paid for before it is read: what it costs follows
 * what arrives, not the most that might. Pieces start small (a short answer costs a few KiB) and
 * double up to {@link #MAX_PIECE}, so room is asked for a few dozen times however long the stream.
 * Held as pieces, never copied into one array.
 */
public final class PaidRead {
  static final int FIRST_PIECE = 1024;
  static final int MAX_PIECE = 1 << 20;

  private final List<byte[]> pieces;
  private final long length;

  private PaidRead(List<byte[]> pieces, long length) {
    this.pieces = pieces;
    this.length = length;
  }

  /**
   * Reads {@code in} to its end, or to {@code max + 1} bytes (then {@link #length()} says the
   * stream was longer than {@code max}, and nothing more was read). Before each piece, {@code room}
   * is asked for {@code costPerByte} times its size (the bytes and what they become); what the last
   * piece did not fill is given back.
   *
   * @throws MemoryBudgetExhaustedException from {@code room}, or when it granted less than asked
   *     (its holder holds a whole budget's worth already): the rest was not read
   */
  public static PaidRead of(InputStream in, long max, Room room, int costPerByte)
      throws IOException {
    List<byte[]> pieces = new ArrayList<>();
    long length = 0;
    int piece = FIRST_PIECE;
    while (length <= max) {
      int want = (int) Math.min(piece, max + 1 - length);
      // A holder may hold the whole budget, never more: a piece past it is not read unpaid for.
      long paid = room.reserveAll((long) want * costPerByte);
      byte[] b = new byte[want];
      int n = in.readNBytes(b, 0, want);
      length += n;
      if (n < want) {
        room.giveBack(Math.min(paid, (long) (want - n) * costPerByte));
        if (n > 0) {
          pieces.add(Arrays.copyOf(b, n));
        }
        break;
      }
      pieces.add(b);
      piece = Math.min(piece * 2, MAX_PIECE);
    }
    return new PaidRead(pieces, length);
  }

  /** Bytes read and paid for already, whole: as if read by {@link #of}. */
  public static PaidRead of(byte[] bytes) {
    return new PaidRead(List.of(bytes), bytes.length);
  }

  /** The bytes read. */
  public long length() {
    return length;
  }

  /** The bytes read, as a stream. */
  public InputStream stream() {
    List<InputStream> streams = new ArrayList<>(pieces.size());
    for (byte[] b : pieces) {
      streams.add(new ByteArrayInputStream(b));
    }
    return new SequenceInputStream(Collections.enumeration(streams));
  }

  /** The first {@code n} bytes read (fewer when fewer were). */
  public byte[] prefix(int n) {
    byte[] out = new byte[(int) Math.min(n, length)];
    int at = 0;
    for (byte[] b : pieces) {
      if (at == out.length) {
        break;
      }
      int k = Math.min(b.length, out.length - at);
      System.arraycopy(b, 0, out, at, k);
      at += k;
    }
    return out;
  }
}
