# Sourced by scripts/install-prereqs. Builds matplotlib's font list once, so each warm Python sandbox
# copies it (runner: RUNNER_MPL_CACHE_SEED) instead of scanning the fonts again. Idempotent: rebuilt when
# the Python libraries change (the font list is named after matplotlib's font manager version; lists of
# other versions stay, for sandboxes still running an older one).
runner_mpl_cache() {
  # The Python the runner uses (a container image names its own), else the libraries' venv.
  local seed="$KCR_TOOLS_DIR/mpl-cache" python="${RUNNER_TOOL_PYTHON:-$KCR_TOOLS_DIR/venv/bin/python3}" key
  [ -x "$python" ] || return 0
  key="$(readlink -f "$(dirname "$python")")"
  if ls "$seed"/fontlist-*.json >/dev/null 2>&1 && [ "$(cat "$seed/.kcr-python" 2>/dev/null)" = "$key" ]; then
    return 0
  fi
  log "runner: building the matplotlib font cache seed in $seed"
  mkdir -p "$seed"
  if MPLCONFIGDIR="$seed" "$python" -c 'import matplotlib; matplotlib.use("Agg"); import matplotlib.font_manager'; then
    echo "$key" > "$seed/.kcr-python"
    chmod -R a+rX "$seed"
  else
    log "runner: matplotlib font cache not built (matplotlib missing?); sandboxes build their own"
  fi
}
runner_mpl_cache
