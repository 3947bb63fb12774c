package dev.kubecoderun.execution;

/**
 * Two input files of one run would be placed where one is a folder of the other ({@code a} and
 * {@code a/b}): /mnt/data cannot hold both. The request's own fault, found before anything is
 * placed.
 */
public final class ConflictingInputsException extends RuntimeException {
  private final String file;
  private final String nested;

  public ConflictingInputsException(String file, String nested) {
    super(
        "Input files '"
            + file
            + "' and '"
            + nested
            + "' conflict: '"
            + file
            + "' cannot be both a file and the folder holding '"
            + nested
            + "'");
    this.file = file;
    this.nested = nested;
  }

  /** The name that would be a file and a folder at once. */
  public String file() {
    return file;
  }

  /** The name placed inside it. */
  public String nested() {
    return nested;
  }
}
