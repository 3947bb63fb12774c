package dev.kubecoderun.sandbox.local;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The bubblewrap prefix the runner puts before every child: new user, pid, net, ipc, uts and mount
 * namespaces, uid/gid 65532, no capabilities, read-only system folders, the sandbox's own folders
 * at /mnt/data and /tmp, and nothing else of the host: no API data dir, no home, no network at all.
 */
public final class BubblewrapCommand {
  static final String SANDBOX_WORKDIR = "/mnt/data";
  static final String SANDBOX_SCRATCH = "/tmp";

  /** Files of /etc that toolchains read; everything else of /etc stays hidden. */
  private static final List<String> ETC_FILES =
      List.of(
          "/etc/alternatives",
          "/etc/ld.so.cache",
          "/etc/ld.so.conf",
          "/etc/ld.so.conf.d",
          "/etc/nsswitch.conf",
          "/etc/localtime",
          "/etc/ssl",
          "/etc/ca-certificates",
          "/etc/fonts",
          "/etc/mime.types",
          "/etc/matplotlibrc",
          "/etc/R",
          "/etc/php",
          "/etc/ldc2.conf",
          "/etc/gprofng.rc",
          "/etc/java-17-openjdk",
          "/etc/java-21-openjdk",
          "/etc/java-25-openjdk",
          "/etc/perl",
          "/etc/mono");

  private BubblewrapCommand() {}

  public static List<String> build(
      String bwrap, Path workdir, Path scratch, Path passwd, Path group, Set<Path> extraRoots) {
    List<String> cmd = new ArrayList<>();
    cmd.add(bwrap);
    add(cmd, "--unshare-all", "--die-with-parent", "--new-session");
    add(cmd, "--uid", "65532", "--gid", "65532", "--cap-drop", "ALL", "--hostname", "sandbox");
    add(cmd, "--ro-bind", "/usr", "/usr");
    add(cmd, "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin");
    add(cmd, "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64");
    add(cmd, "--symlink", "usr/lib32", "/lib32");
    for (String etc : ETC_FILES) {
      add(cmd, "--ro-bind-try", etc, etc);
    }
    add(cmd, "--ro-bind", passwd.toString(), "/etc/passwd");
    add(cmd, "--ro-bind", group.toString(), "/etc/group");
    for (Path root : extraRoots) {
      add(cmd, "--ro-bind-try", root.toString(), root.toString());
    }
    add(cmd, "--proc", "/proc", "--dev", "/dev");
    add(cmd, "--bind", workdir.toString(), SANDBOX_WORKDIR);
    add(cmd, "--bind", scratch.toString(), SANDBOX_SCRATCH);
    // The root is bwrap's own tmpfs: make it read-only so only /mnt/data and /tmp are writable.
    add(cmd, "--remount-ro", "/");
    add(cmd, "--chdir", SANDBOX_WORKDIR);
    cmd.add("--");
    return cmd;
  }

  private static void add(List<String> cmd, String... args) {
    cmd.addAll(List.of(args));
  }
}
