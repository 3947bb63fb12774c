# Sourced by scripts/install-prereqs. Builds the seed Go build cache the runner copies into each
# sandbox's GOCACHE, so no user "go build" recompiles the standard library. Idempotent: skipped when
# the seed exists for the installed Go version.
runner_go_cache() {
  local seed="$KCR_TOOLS_DIR/go-cache-seed" go_bin goroot version work
  go_bin="$(command -v go || true)"
  [ -n "$go_bin" ] || { log "runner: no go on PATH; skipping the Go build cache seed"; return 0; }
  go_bin="$(readlink -f "$go_bin")"
  version="$("$go_bin" env GOVERSION)"
  if [ -f "$seed/.kcr-version" ] && [ "$(cat "$seed/.kcr-version")" = "$version" ]; then
    return 0
  fi
  log "runner: building the Go build cache seed for $version in $seed"
  goroot="$("$go_bin" env GOROOT)"
  rm -rf "$seed.tmp" && mkdir -p "$seed.tmp"
  work="$(mktemp -d)"
  cat > "$work/main.go" <<'GO'
package main

import (
	_ "bufio"
	_ "bytes"
	_ "container/heap"
	_ "container/list"
	_ "context"
	_ "crypto/md5"
	_ "crypto/rand"
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "encoding/base64"
	_ "encoding/binary"
	_ "encoding/csv"
	_ "encoding/hex"
	_ "encoding/json"
	_ "errors"
	_ "flag"
	_ "fmt"
	_ "hash/crc32"
	_ "io"
	_ "iter"
	_ "log"
	_ "maps"
	_ "math"
	_ "math/big"
	_ "math/bits"
	_ "math/cmplx"
	_ "math/rand"
	_ "math/rand/v2"
	_ "net/url"
	_ "os"
	_ "os/exec"
	_ "path/filepath"
	_ "reflect"
	_ "regexp"
	_ "slices"
	_ "sort"
	_ "strconv"
	_ "strings"
	_ "sync"
	_ "sync/atomic"
	_ "text/tabwriter"
	_ "text/template"
	_ "time"
	_ "unicode"
	_ "unicode/utf8"
)

func main() {}
GO
  # The same environment as the runner gives children (except paths), so the cache keys match.
  if (cd "$work" && env -i PATH="$goroot/bin:/usr/local/bin:/usr/bin:/bin" HOME="$work" TMPDIR="$work" \
      GOCACHE="$seed.tmp" GOPATH="$work/go" GOTOOLCHAIN=local GOPROXY=off GOSUMDB=off GOFLAGS=-mod=mod \
      GOTELEMETRY=off "$go_bin" build -o "$work/prog" main.go); then
    echo "$version" > "$seed.tmp/.kcr-version"
    chmod -R a+rX "$seed.tmp"
    rm -rf "$seed" && mv "$seed.tmp" "$seed"
  else
    log "runner: could not build the Go build cache seed (Go runs will compile the standard library)"
    rm -rf "$seed.tmp"
  fi
  rm -rf "$work"
}
runner_go_cache
