# Sourced by scripts/install-prereqs. Builds matplotlib's font list once, so each warm Python sandbox
# copies it (runner: RUNNER_MPL_CACHE_SEED) instead of scanning the fonts again. Idempotent.
runner_mpl_cache() {
  # The Python the runner uses (a container image names its own), else the system one.
  local seed="$KCR_TOOLS_DIR/mpl-cache" python="${RUNNER_TOOL_PYTHON:-/usr/bin/python3}"
  [ -x "$python" ] || return 0
  if ls "$seed"/fontlist-*.json >/dev/null 2>&1; then
    return 0
  fi
  log "runner: building the matplotlib font cache seed in $seed"
  mkdir -p "$seed"
  MPLCONFIGDIR="$seed" "$python" -c 'import matplotlib; matplotlib.use("Agg"); import matplotlib.font_manager' \
    || log "runner: matplotlib font cache not built (matplotlib missing?); sandboxes build their own"
}
runner_mpl_cache
