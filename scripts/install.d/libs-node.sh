# Sourced by scripts/install-prereqs and by languages/node.Dockerfile. Installs the npm packages js and
# ts user code can use, with the TypeScript compiler and the @types (languages/node/package-lock.json:
# exact versions and integrity hashes), into $KCR_TOOLS_DIR/node/node_modules. The runner finds them
# through RUNNER_TOOL_TSC (NODE_PATH for require, a node_modules link next to code.js and code.ts for
# import and tsc); sandboxes see them read-only. Downloads are cached in $KCR_TOOLS_DIR/cache/npm. Idempotent: a re-run with the
# same lock file does nothing.
libs_node_build() {
  cp "$KCR_ROOT/languages/node/package.json" "$KCR_ROOT/languages/node/package-lock.json" "$1/" &&
    (cd "$1" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
      --cache "$KCR_TOOLS_DIR/cache/npm" --prefer-offline >/dev/null) &&
    node "$1/node_modules/typescript/lib/tsc.js" --version >/dev/null
}

libs_node() {
  local key
  command -v npm >/dev/null 2>&1 || { log "no npm: skipping the Node libraries"; return 0; }
  key="$(cat "$KCR_ROOT/languages/node/package.json" "$KCR_ROOT/languages/node/package-lock.json" | sha256sum | cut -c1-64)"
  if [ ! -f "$KCR_TOOLS_DIR/node/.kcr-done" ] || [ "$(cat "$KCR_TOOLS_DIR/node/.kcr-done")" != "$key" ]; then
    log "installing the Node libraries (languages/node/package-lock.json) into $KCR_TOOLS_DIR/node"
  fi
  versioned_install node "$key" libs_node_build || die "could not install the Node libraries (npm ci in $KCR_TOOLS_DIR)"
}
libs_node
