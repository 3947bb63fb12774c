package dev.kubecoderun.execution;

/**
 * The input files of one run add up to more than its sandbox's disk holds: the run could never
 * place them. The request's own fault, found before a session or sandbox is taken.
 */
public final class InputsTooLargeException extends RuntimeException {
  public InputsTooLargeException(int files, long bytes, long limit) {
    super(
        "The "
            + files
            + " input files total "
            + ExecutionService.mebibytesUp(bytes)
            + " MiB, more than the sandbox's "
            + ExecutionService.mebibytesUp(limit)
            + " MiB of disk: reference fewer or smaller files");
  }
}
