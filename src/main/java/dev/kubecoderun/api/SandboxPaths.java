package dev.kubecoderun.api;

import dev.kubecoderun.files.RelativePaths;

/** Names of files inside /mnt/data: relative, sub-folders allowed, never outside. */
final class SandboxPaths {
  private SandboxPaths() {}

  /**
   * Returns the normalised relative path ({@link RelativePaths#normalize}), or a 400 naming the
   * field; also for a folder or file name longer than the file system holds ({@link
   * RelativePaths#MAX_SEGMENT_BYTES}), which the sandbox would refuse only once the run began.
   */
  static String checkRelative(String name, String field) {
    String n = RelativePaths.normalize(name);
    if (n == null) {
      throw bad(name, field);
    }
    if (!RelativePaths.segmentsFit(n)) {
      throw ApiError.badRequest(
          "File name '"
              + n
              + "' has a folder or file name over "
              + RelativePaths.MAX_SEGMENT_BYTES
              + " bytes",
          field,
          "invalid_path");
    }
    return n;
  }

  private static ApiError bad(String name, String field) {
    return ApiError.badRequest(
        "File name '" + name + "' must be a relative path inside /mnt/data", field, "invalid_path");
  }
}
