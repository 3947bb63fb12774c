package dev.kubecoderun.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What the processes in this JVM's local sandboxes are doing, read from /proc as root (the tests'
 * user): for the message of a test whose run did not end, taken while it still runs.
 */
final class SandboxProcesses {
  private static final Pattern RANGE = Pattern.compile("--uid-base (\\d+) --uid-count (\\d+)");

  private SandboxProcesses() {}

  /** Each sandbox process: its command line, and per thread its state, wait channel and stack. */
  static String describe() {
    List<long[]> ranges = new ArrayList<>();
    ProcessHandle.current()
        .descendants()
        .forEach(
            p ->
                p.info()
                    .commandLine()
                    .map(RANGE::matcher)
                    .filter(Matcher::find)
                    .ifPresent(
                        m -> {
                          long base = Long.parseLong(m.group(1));
                          ranges.add(new long[] {base, base + Long.parseLong(m.group(2))});
                        }));
    StringBuilder b = new StringBuilder();
    try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
      for (Path proc : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
        long uid = realUid(proc);
        if (ranges.stream().anyMatch(r -> uid >= r[0] && uid < r[1])) {
          b.append("pid ")
              .append(proc.getFileName())
              .append(" uid ")
              .append(uid)
              .append(": ")
              .append(read(proc.resolve("cmdline")).replace('\0', ' ').strip())
              .append('\n');
          try (Stream<Path> tasks = Files.list(proc.resolve("task"))) {
            for (Path task : tasks.toList()) {
              String stat = read(task.resolve("stat"));
              // The state follows the command name, which is in parentheses and may hold spaces.
              String state = stat.substring(stat.lastIndexOf(')') + 1).strip().split(" ")[0];
              b.append("  thread ")
                  .append(task.getFileName())
                  .append(' ')
                  .append(read(task.resolve("comm")).strip())
                  .append(" state ")
                  .append(state)
                  .append(" wchan ")
                  .append(read(task.resolve("wchan")))
                  .append('\n')
                  .append(read(task.resolve("stack")).indent(4));
            }
          } catch (IOException e) {
            b.append("  (gone)\n");
          }
        }
      }
    } catch (IOException e) {
      b.append("cannot list /proc: ").append(e);
    }
    return b.isEmpty() ? "no sandbox process" : b.toString();
  }

  private static long realUid(Path proc) {
    for (String line : read(proc.resolve("status")).split("\n")) {
      if (line.startsWith("Uid:")) {
        return Long.parseLong(line.substring(4).strip().split("\\s+")[0]);
      }
    }
    return -1;
  }

  private static String read(Path file) {
    try {
      return Files.readString(file);
    } catch (IOException | RuntimeException e) {
      return "";
    }
  }
}
