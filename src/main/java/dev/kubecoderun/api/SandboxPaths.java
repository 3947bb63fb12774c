package dev.kubecoderun.api;

import dev.kubecoderun.files.OutputName;
import dev.kubecoderun.files.RelativePaths;
import java.nio.charset.StandardCharsets;

/** Names of files inside /mnt/data: relative, sub-folders allowed, never outside. */
final class SandboxPaths {
  /**
   * The most characters of a name as sent: an uploaded path's most bytes ({@link
   * RelativePaths#MAX_PATH_BYTES}, never fewer characters than bytes) after a leading /mnt/data/.
   */
  static final int MAX_SENT_CHARS =
      RelativePaths.MAX_PATH_BYTES + RelativePaths.SANDBOX_PREFIX.length();

  private SandboxPaths() {}

  /**
   * Returns the normalised relative path ({@link RelativePaths#normalize}) with the characters a
   * client would show or send back wrongly (control characters, line separators, bidirectional
   * controls) as {@code _}, as in a generated file's name ({@link OutputName#of}): the file is
   * placed at the name a run would return for it, and a stored name never holds them. Or a 400
   * naming the field; also for a name over the limits of an uploaded path ({@link
   * RelativePaths#MAX_PATH_BYTES} bytes, {@link RelativePaths#MAX_DEPTH} levels), and for a folder
   * or file name longer than the file system holds ({@link RelativePaths#MAX_SEGMENT_BYTES}), which
   * the sandbox would refuse only once the run began. A name of megabytes is refused by its length
   * alone, before anything splits it: each split of a deep one made a string of every level.
   */
  static String checkRelative(String name, String field) {
    if (name.length() > MAX_SENT_CHARS) {
      throw tooLong(name, field);
    }
    String n = RelativePaths.normalize(name);
    if (n == null) {
      throw bad(name, field);
    }
    // One character for one, never a '/' or '.': the checks below hold for the name as sent.
    n = OutputName.of(n);
    if (n.getBytes(StandardCharsets.UTF_8).length > RelativePaths.MAX_PATH_BYTES) {
      throw tooLong(name, field);
    }
    if (RelativePaths.depth(n) > RelativePaths.MAX_DEPTH) {
      throw ApiError.badRequest(
          "File name '"
              + Echo.cut(n)
              + "' is more than "
              + RelativePaths.MAX_DEPTH
              + " levels deep",
          field,
          "invalid_path");
    }
    if (!RelativePaths.segmentsFit(n)) {
      throw ApiError.badRequest(
          "File name '"
              + Echo.cut(n)
              + "' has a folder or file name over "
              + RelativePaths.MAX_SEGMENT_BYTES
              + " bytes",
          field,
          "invalid_path");
    }
    return n;
  }

  private static ApiError tooLong(String name, String field) {
    return ApiError.badRequest(
        "File name '"
            + Echo.cut(name)
            + "' is over "
            + RelativePaths.MAX_PATH_BYTES
            + " bytes (after a leading /mnt/data/)",
        field,
        "invalid_path");
  }

  private static ApiError bad(String name, String field) {
    return ApiError.badRequest(
        "File name '" + Echo.cut(name) + "' must be a relative path inside /mnt/data",
        field,
        "invalid_path");
  }
}
