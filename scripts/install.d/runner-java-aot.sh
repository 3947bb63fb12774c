# Sourced by scripts/install-prereqs. Builds a JDK AOT cache (JEP 483/514, JDK 25+) for the runner's
# Java source launcher: it holds the JDK and javac classes already loaded and linked, which roughly
# halves the time of a Java run. One cache per JDK, /opt/kubecoderun/java-aot/<jdk dir name>.aot; the
# runner uses the one of its RUNNER_TOOL_JAVA when it exists. Idempotent: rebuilt when the JDK changes.
runner_java_aot() {
  local out="$KCR_TOOLS_DIR/java-aot" jdk java name version work
  mkdir -p "$out"
  for jdk in /usr/lib/jvm/*/; do
    jdk="${jdk%/}"
    java="$jdk/bin/java"
    [ -x "$java" ] && [ ! -L "$jdk" ] || continue
    version="$(sed -n 's/^JAVA_VERSION="\(.*\)"/\1/p' "$jdk/release" 2>/dev/null || true)"
    [ "${version%%.*}" -ge 25 ] 2>/dev/null || continue
    name="$(basename "$jdk")"
    if [ -f "$out/$name.aot" ] && [ "$(cat "$out/$name.version" 2>/dev/null)" = "$version" ]; then
      continue
    fi
    log "runner: building the Java AOT cache for $name ($version)"
    work="$(mktemp -d)"
    cat > "$work/Main.java" <<'JAVA'
import java.util.*;
import java.util.stream.*;

public class Main {
  record Point(int x, int y) {}

  public static void main(String[] args) throws Exception {
    List<Point> points = new ArrayList<>();
    for (int i = 0; i < 100; i++) points.add(new Point(i, i * i));
    Map<Boolean, Long> parity = points.stream().collect(Collectors.partitioningBy(p -> p.x() % 2 == 0, Collectors.counting()));
    String joined = IntStream.range(0, 10).mapToObj(Integer::toString).collect(Collectors.joining(","));
    System.out.println(parity + " " + joined + " " + String.format("%.3f", Math.sqrt(2)) + " " + new StringBuilder("abc").reverse());
    java.nio.file.Files.writeString(java.nio.file.Path.of(args[0]), "x");
    System.out.println(java.nio.file.Files.readString(java.nio.file.Path.of(args[0])).length());
  }
}
JAVA
    # The same flags as the runner uses, so that the cache matches.
    if (cd "$work" && env -i PATH=/usr/bin:/bin HOME="$work" "$java" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        -XX:-UsePerfData -XX:AOTCacheOutput="$out/$name.aot.tmp" Main.java "$work/f.txt" >/dev/null 2>&1); then
      mv "$out/$name.aot.tmp" "$out/$name.aot"
      chmod 644 "$out/$name.aot"
      echo "$version" > "$out/$name.version"
    else
      log "runner: could not build the Java AOT cache for $name (Java runs will just start slower)"
      rm -f "$out/$name.aot.tmp"
    fi
    rm -rf "$work"
  done
}
runner_java_aot
