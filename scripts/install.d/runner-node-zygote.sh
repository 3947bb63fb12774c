# Sourced by scripts/install-prereqs. Builds the Node template's addon (runner/shims/nodezygote.cc with
# the jail entry it includes, runner/shims/zygote_jail.c; a Node-API module: it works with any Node
# version), so the local backend forks js runs from a Node
# template instead of starting a Node for each (runner: RUNNER_NODE_ZYGOTE). Without it, js runs still
# work, each starting its own Node. Rebuilt when the source changes. Idempotent.
runner_node_zygote() {
  local src="$KCR_ROOT/runner/shims/nodezygote.cc" dir="$KCR_TOOLS_DIR/node-zygote"
  local headers
  headers="$(dirname "$(command -v node 2>/dev/null || echo /usr/bin/node)")/../include/node"
  [ -f "$headers/node_api.h" ] || headers=/usr/include/node
  if ! command -v g++ >/dev/null || [ ! -f "$headers/node_api.h" ]; then
    log "runner: no g++ or Node headers; the Node template is not built (every js run starts a Node)"
    return 0
  fi
  # It includes the jail entry it shares with the Python templates: a change of either rebuilds it.
  local sum; sum="$(cat "$src" "$KCR_ROOT/runner/shims/zygote_jail.c" | sha256sum | cut -c1-16)"
  [ -f "$dir/kcr_zygote.node" ] && [ "$(cat "$dir/source.sha" 2>/dev/null)" = "$sum" ] && return 0
  log "runner: building the Node template's addon in $dir"
  mkdir -p "$dir"
  g++ -std=c++17 -O2 -Wall -shared -fPIC -I"$headers" -o "$dir/kcr_zygote.node.tmp" "$src" \
    && mv "$dir/kcr_zygote.node.tmp" "$dir/kcr_zygote.node" && echo "$sum" > "$dir/source.sha" \
    || log "runner: the Node template's addon did not build; every js run starts a Node"
}
runner_node_zygote
