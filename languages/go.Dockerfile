# syntax=docker/dockerfile:1
# Go sandbox image: the Go toolchain and a seeded build cache, so no run recompiles the standard library.
# Build from the repository root: scripts/build-images (or docker build -f languages/go.Dockerfile .).

# Stage 1: the runner, a static Go binary (standard library only). The same stage in every image.
FROM golang:1.26-bookworm AS runner-build
WORKDIR /src/runner
COPY runner/ ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/runner .

FROM golang:1.26-bookworm
LABEL dev.kubecoderun.languages="go"
# The sandbox user (uid/gid 65532, as in the pod spec) and the mount point of the work directory.
RUN groupadd --gid 65532 sandbox \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sandbox \
 && mkdir -p /mnt/data && chown 65532:65532 /mnt/data
# The seed build cache the runner copies into each sandbox's GOCACHE (RUNNER_GO_CACHE_SEED, default
# /opt/kubecoderun/go-cache-seed), built by the same script as on the local backend, so the cache keys
# match the environment the runner gives children. User code can import the standard library only
# (GOPROXY=off, no go.mod).
COPY scripts/lib/common.sh /tmp/kcr/scripts/lib/common.sh
COPY scripts/install.d/runner-go-cache.sh /tmp/kcr/scripts/install.d/runner-go-cache.sh
RUN bash -c 'source /tmp/kcr/scripts/lib/common.sh && source /tmp/kcr/scripts/install.d/runner-go-cache.sh' \
 && test -f /opt/kubecoderun/go-cache-seed/.kcr-version \
 && rm -rf /tmp/kcr /root/.cache
ENV RUNNER_TOOL_GO=/usr/local/go/bin/go \
    RUNNER_WARM=go
COPY --from=runner-build /out/runner /usr/local/bin/runner
# Every sandbox pod serves one execution: nothing is warmed again after it.
ENV RUNNER_SINGLE_USE=true
USER 65532:65532
WORKDIR /mnt/data
EXPOSE 8080
# The language is chosen per request; RUNNER_TOKEN (and RUNNER_WARM when the API wants another) come
# from the pod spec. No `env -i`: the runner builds each child's environment itself.
ENTRYPOINT ["/usr/local/bin/runner", "--listen", "0.0.0.0:8080", "--workdir", "/mnt/data", "--scratch", "/tmp/kcr"]
