# Sourced by scripts/install-prereqs. Builds matplotlib's font list once, so each warm Python sandbox
# copies it (runner: RUNNER_MPL_CACHE_SEED) instead of scanning the fonts again. Idempotent: rebuilt when
# the Python libraries change. matplotlib reads only the list named after its own font manager version
# (fontlist-v<version>.json), so a rebuild removes the lists of other versions first: the runner copies
# every fontlist-*.json of the seed into every sandbox, and a stale one would only cost each a write.
runner_mpl_cache() {
  # The Python the runner uses (a container image names its own), else the libraries' venv.
  local seed="$KCR_TOOLS_DIR/mpl-cache" python="${RUNNER_TOOL_PYTHON:-$KCR_TOOLS_DIR/venv/bin/python3}" key
  [ -x "$python" ] || return 0
  key="$(readlink -f "$(dirname "$python")")"
  # Up to date: built by this Python, and its list the only one.
  local lists=("$seed"/fontlist-*.json)
  if [ -e "${lists[0]}" ] && [ "${#lists[@]}" = 1 ] && [ "$(cat "$seed/.kcr-python" 2>/dev/null)" = "$key" ]; then
    return 0
  fi
  log "runner: building the matplotlib font cache seed in $seed"
  mkdir -p "$seed"
  rm -f "$seed"/fontlist-*.json "$seed/.kcr-python"
  if MPLCONFIGDIR="$seed" "$python" -c 'import matplotlib; matplotlib.use("Agg"); import matplotlib.font_manager'; then
    echo "$key" > "$seed/.kcr-python"
    chmod -R a+rX "$seed"
  else
    log "runner: matplotlib font cache not built (matplotlib missing?); sandboxes build their own"
  fi
}
runner_mpl_cache
