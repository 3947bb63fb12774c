package dev.kubecoderun.execution;

import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.language.Language;
import java.util.List;

/** A validated /exec request of {@code principal}. */
public record ExecCommand(
    Principal principal,
    Language language,
    String code,
    List<String> args,
    String sessionId,
    String entityId,
    String userId,
    List<FileRef> files) {

  /**
   * An input file: stored as (sessionId, id), placed at /mnt/data/{name}. {@code id} null: an older
   * client's reference, found by {@code name} in its session.
   */
  public record FileRef(String id, String sessionId, String name) {}
}
