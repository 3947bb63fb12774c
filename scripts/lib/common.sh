# Shared helpers for the scripts in scripts/. Source it; do not run it.
set -euo pipefail

KCR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Toolchain extras we install ourselves (TypeScript, the seeded Go build cache, S3Proxy, ...).
KCR_TOOLS_DIR="${KCR_TOOLS_DIR:-/opt/kubecoderun}"
export KCR_ROOT KCR_TOOLS_DIR

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# java_major JAVA_BIN -> prints the major version (17, 21, 25...) or nothing.
java_major() {
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p' | head -n1
}

# Selects a JDK 21+ and exports JAVA_HOME: JAVA_HOME if it is 21+, else the newest under /usr/lib/jvm.
select_jdk() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/javac" ]; then
    local v; v="$(java_major "$JAVA_HOME/bin/java")"
    if [ -n "$v" ] && [ "$v" -ge 21 ]; then export JAVA_HOME; return 0; fi
    log "JAVA_HOME=$JAVA_HOME is Java ${v:-?}; looking for a JDK 21+ under /usr/lib/jvm"
  fi
  local best="" bestv=0 d v
  for d in /usr/lib/jvm/*/; do
    d="${d%/}"
    [ -x "$d/bin/javac" ] || continue
    v="$(java_major "$d/bin/java")"
    if [ -n "$v" ] && [ "$v" -ge 21 ] && [ "$v" -gt "$bestv" ]; then best="$d"; bestv="$v"; fi
  done
  [ -n "$best" ] || die "KubeCodeRun needs a JDK 21 or newer (Helidon 4). Set JAVA_HOME to one, or install one under /usr/lib/jvm (e.g. apt-get install openjdk-21-jdk-headless or a Temurin 21+)."
  export JAVA_HOME="$best"
}

# Maven with the selected JDK, quiet, in batch mode.
mvn_run() {
  select_jdk
  # Maven 3.8 still calls sun.misc.Unsafe, which JDK 24+ warns about loudly.
  local opts="${MAVEN_OPTS:-}"
  [ "$(java_major "$JAVA_HOME/bin/java")" -lt 24 ] || opts="$opts --sun-misc-unsafe-memory-access=allow"
  JAVA_HOME="$JAVA_HOME" MAVEN_OPTS="$opts" mvn -B -q -f "$KCR_ROOT/pom.xml" "$@"
}

# Maven for test runs: not quiet, so Surefire's "Tests run: ..." summary is printed.
mvn_test() {
  select_jdk
  local opts="${MAVEN_OPTS:-}"
  [ "$(java_major "$JAVA_HOME/bin/java")" -lt 24 ] || opts="$opts --sun-misc-unsafe-memory-access=allow"
  JAVA_HOME="$JAVA_HOME" MAVEN_OPTS="$opts" mvn -B --no-transfer-progress -Dstyle.color=never \
    -f "$KCR_ROOT/pom.xml" "$@"
}

# deb_packages FILE... -> the Debian packages of languages/*/packages.txt lists (first word of each line
# that is not a comment). The images read the lists the same way (awk in their Dockerfiles).
deb_packages() {
  awk '!/^#/ && NF {print $1}' "$@"
}

# versioned_install NAME KEY BUILD: makes $KCR_TOOLS_DIR/NAME a link to NAME-<hash of KEY>, which
# `BUILD DIR` fills when it is not there yet (BUILD must return non-zero on failure). The link changes in
# one step, so a sandbox never sees a half-built tree; older NAME-* trees are then removed.
versioned_install() {
  local name="$1" key="$2" build="$3" hash dir link old
  hash="$(printf '%s' "$key" | sha256sum | cut -c1-12)"
  dir="$KCR_TOOLS_DIR/$name-$hash"
  link="$KCR_TOOLS_DIR/$name"
  if [ -f "$dir/.kcr-done" ] && [ "$(readlink "$link" 2>/dev/null)" = "$name-$hash" ]; then
    return 0
  fi
  if [ ! -f "$dir/.kcr-done" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    if ! "$build" "$dir"; then
      rm -rf "$dir"
      return 1
    fi
    chmod -R a+rX "$dir"
    printf '%s\n' "$key" > "$dir/.kcr-done"
  fi
  if [ -e "$link" ] && [ ! -L "$link" ]; then rm -rf "$link"; fi
  ln -sfn "$name-$hash" "$link.tmp"
  mv -T "$link.tmp" "$link"
  for old in "$KCR_TOOLS_DIR/$name"-*; do
    [ "$old" = "$dir" ] || rm -rf "$old"
  done
}

# The API jar; its manifest's Class-Path names the libraries in target/lib.
KCR_JAR="$KCR_ROOT/target/kubecoderun.jar"

# True when target/ holds everything `java -jar $KCR_JAR` and the local backend need, built from
# the current sources: the runner with its holder and jail entry, the jar, and every library the jar's manifest names. Whichever
# command built them (scripts/build, scripts/test, mvn verify) does not matter.
build_is_current() {
  [ -x "$KCR_ROOT/target/runner" ] && [ -x "$KCR_ROOT/target/runner-holder" ] && [ -f "$KCR_ROOT/target/runner-zygote.so" ] && [ -f "$KCR_JAR" ] || return 1
  [ -z "$(find "$KCR_ROOT/runner" -newer "$KCR_ROOT/target/runner" -type f | head -n1)" ] || return 1
  # languages/: the library lists the jar carries (GET /languages).
  [ -z "$(find "$KCR_ROOT/src/main" "$KCR_ROOT/languages" "$KCR_ROOT/pom.xml" -newer "$KCR_JAR" -type f | head -n1)" ] || return 1
  local lib
  for lib in $(jar_class_path); do
    [ -f "$KCR_ROOT/target/$lib" ] || return 1
  done
}

# The Class-Path entries of the jar's manifest, one per line (72-column lines joined first).
jar_class_path() {
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && "$JAVA_HOME/bin/jar" -xf "$KCR_JAR" META-INF/MANIFEST.MF)
  tr -d '\r' < "$tmp/META-INF/MANIFEST.MF" | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n //g' \
    | sed -n 's/^Class-Path: //p' | tr ' ' '\n' | sed '/^$/d'
  rm -rf "$tmp"
}

# build_jmh: installs the API jar (built by scripts/build) into the local Maven repository and builds
# the JMH module of bench/jmh against it, with its class path in bench/jmh/target/cp.txt. scripts/test
# runs it too, so the benchmarks keep compiling as the API changes.
build_jmh() {
  select_jdk
  mvn_run -q install -DskipTests -Dspotless.check.skip=true
  # clean: the compiler plugin keeps classes whose sources did not change even when the API they
  # call did, which once hid a broken benchmark from every run but a fresh checkout's.
  (cd "$KCR_ROOT/bench/jmh" && JAVA_HOME="$JAVA_HOME" mvn -B -q clean package \
    && JAVA_HOME="$JAVA_HOME" mvn -B -q dependency:build-classpath -Dmdep.outputFile=target/cp.txt)
}

# api_key_file FILE: prints the API key kept in FILE, made first when FILE is missing or empty.
# Written to a temporary file, flushed, then renamed: a full disk or a kill leaves no empty or
# short key under FILE (a short one would be used as it is at every later start).
api_key_file() {
  local keyfile="$1" tmp="$1.tmp.$$"
  if [ ! -s "$keyfile" ]; then
    if ! (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$tmp" && sync "$tmp"); then
      rm -f "$tmp"
      die "cannot write the API key to $keyfile (disk full?); set API_KEY, or make room in $(dirname "$keyfile")"
    fi
    mv -f "$tmp" "$keyfile"
  fi
  cat "$keyfile"
}
