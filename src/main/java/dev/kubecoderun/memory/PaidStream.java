package dev.kubecoderun.memory;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * A stream whose reader keeps up to {@code bound} bytes of it in memory at once (an S3 client's
 * part buffer): what passes through is paid for before it is read, in steps of {@link #STEP}, until
 * {@code bound} is paid. The reader gives it all back with {@link #giveBackAll()} once done,
 * however it ends. A {@link MemoryBudgetExhaustedException} from the room is kept in {@link
 * #failure()}, as a reader may wrap what its stream throws.
 */
public final class PaidStream extends FilterInputStream {
  static final int STEP = 256 * 1024;

  private final Room.Counted room;
  private final long bound;
  private long readSoFar;
  private MemoryBudgetExhaustedException failure;

  public PaidStream(InputStream in, Room room, long bound) {
    super(in);
    this.room = new Room.Counted(room);
    this.bound = bound;
  }

  @Override
  public int read() throws IOException {
    byte[] one = new byte[1];
    int n = read(one, 0, 1);
    return n < 0 ? -1 : one[0] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    long paid = room.reserved();
    if (len > 0 && paid < bound && readSoFar + len > paid) {
      try {
        // A room that holds all it may (a whole budget) reserves nothing more: read on.
        room.reserve(Math.min(bound - paid, Math.max(STEP, readSoFar + len - paid)));
      } catch (MemoryBudgetExhaustedException e) {
        failure = e;
        throw e;
      }
    }
    int n = super.read(b, off, len);
    if (n > 0) {
      readSoFar += n;
    }
    return n;
  }

  /** What is held now. */
  public long held() {
    return room.reserved();
  }

  /** The room refused while reading, or null. */
  public MemoryBudgetExhaustedException failure() {
    return failure;
  }

  /** Gives back all it took: the reader holds none of it any more. */
  public void giveBackAll() {
    room.giveBackAll();
  }
}
