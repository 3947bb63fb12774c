# Sourced by scripts/install-prereqs and by languages/python.Dockerfile. Installs the Python packages
# user code can import (languages/python/requirements.lock: exact versions and the hashes of their files)
# into a virtual environment, $KCR_TOOLS_DIR/venv, made with the Python the sandboxes run: KCR_PYTHON,
# default Debian's /usr/bin/python3 (the image names its own). The runner runs venv/bin/python3
# (RUNNER_TOOL_PYTHON); sandboxes see the venv read-only. Wheels only, kept in $KCR_TOOLS_DIR/cache/wheels
# (pip's own HTTP cache keeps nothing behind a proxy that drops the caching headers), so a re-install
# needs no network. Idempotent: a re-run with the same lock file and Python does nothing.
libs_python_build() {
  local lock="$KCR_ROOT/languages/python/requirements.lock" wheels="$KCR_TOOLS_DIR/cache/wheels"
  local pip=("$1/bin/python3" -m pip --disable-pip-version-check --no-input)
  local install=(install --quiet --require-hashes --only-binary :all: --no-index --find-links "$wheels" --no-compile -r "$lock")
  "$KCR_PYTHON" -m venv "$1" || return 1
  mkdir -p "$wheels"
  if ! "${pip[@]}" "${install[@]}" >/dev/null 2>&1; then
    "${pip[@]}" download --quiet --require-hashes --only-binary :all: -d "$wheels" -r "$lock" &&
      "${pip[@]}" "${install[@]}" || return 1
  fi
  # Byte-compiled once here, on every core: sandboxes cannot write .pyc files (read-only, and
  # PYTHONDONTWRITEBYTECODE), so without them every interpreter would compile numpy, pandas... The
  # packages' own test suites are left out (40% of the work; user code does not import them). A file
  # compileall cannot compile (test data of some package) costs nothing: ignored, as pip does.
  "$1/bin/python3" -m compileall -q -j 0 -x '/tests?/' "$1/lib" >/dev/null || true
}

libs_python() {
  local key
  KCR_PYTHON="${KCR_PYTHON:-/usr/bin/python3}"
  [ -x "$KCR_PYTHON" ] || { log "no $KCR_PYTHON: skipping the Python libraries"; return 0; }
  key="$(sha256sum < "$KCR_ROOT/languages/python/requirements.lock" | cut -c1-64) $(readlink -f "$KCR_PYTHON") $("$KCR_PYTHON" -c 'import sys; print(sys.version.split()[0])')"
  if [ ! -f "$KCR_TOOLS_DIR/venv/.kcr-done" ] || [ "$(cat "$KCR_TOOLS_DIR/venv/.kcr-done")" != "$key" ]; then
    log "installing the Python libraries (languages/python/requirements.lock) into $KCR_TOOLS_DIR/venv"
  fi
  versioned_install venv "$key" libs_python_build || die "could not install the Python libraries into $KCR_TOOLS_DIR/venv"
}
libs_python
