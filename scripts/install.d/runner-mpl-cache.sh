# Sourced by scripts/install-prereqs. Builds matplotlib's font list once, so each warm Python sandbox
# copies it (runner: RUNNER_MPL_CACHE_SEED) instead of scanning the fonts again. Idempotent.
runner_mpl_cache() {
  local seed="$KCR_TOOLS_DIR/mpl-cache"
  [ -x /usr/bin/python3 ] || return 0
  if ls "$seed"/fontlist-*.json >/dev/null 2>&1; then
    return 0
  fi
  log "runner: building the matplotlib font cache seed in $seed"
  mkdir -p "$seed"
  MPLCONFIGDIR="$seed" /usr/bin/python3 -c 'import matplotlib; matplotlib.use("Agg"); import matplotlib.font_manager' \
    || log "runner: matplotlib font cache not built (matplotlib missing?); sandboxes build their own"
}
runner_mpl_cache
