package dev.kubecoderun.common;

/**
 * Clean-up calls run apart from their caller's interrupts. A caller interrupted (a cancelled run, a
 * start given up at shutdown) would have its calls aborted before they are sent, or their
 * connection closed mid-way (a virtual thread's socket is closed by an interrupt), once or again
 * and again (a cancel repeated): a sandbox would stay, a session stay locked.
 */
public final class Apart {
  private Apart() {}

  /**
   * Runs {@code cleanup} on a thread of its own ({@code name}) and waits for its end through any
   * interrupt of the caller, whose interrupt status is restored after.
   */
  public static void run(String name, Runnable cleanup) {
    Thread helper = Thread.ofVirtual().name(name).start(cleanup);
    boolean interrupted = false;
    while (true) {
      try {
        helper.join();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }
}
