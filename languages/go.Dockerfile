# syntax=docker/dockerfile:1
# Go sandbox image: Debian's Go 1.24 and a seeded build cache, so no run recompiles the standard library.
# Build from the repository root with `scripts/build-images go`: it first builds the runner (a static
# Go binary, the same in every image) into target/image-inputs/runner, which this file copies in. BASE is
# Debian 13 (docs/kubernetes.md, "One Debian base"); scripts/build-images --debootstrap makes it locally.
ARG BASE=debian:trixie-slim

FROM ${BASE}
LABEL dev.kubecoderun.languages="go"
# The sandbox user (uid/gid 65532, the pod spec's default) and the mount point of the work directory.
RUN groupadd --gid 65532 sandbox \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sandbox \
 && mkdir -p /mnt/data && chown 65532:65532 /mnt/data
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends golang-go \
 && rm -rf /var/lib/apt/lists/*
# The seed build cache the runner copies into each sandbox's GOCACHE (RUNNER_GO_CACHE_SEED, default
# /opt/kubecoderun/go-cache-seed), built by the same script as on the local backend, so the cache keys
# match the environment the runner gives children. User code can import the standard library only
# (GOPROXY=off, no go.mod).
COPY scripts/lib/common.sh /tmp/kcr/scripts/lib/common.sh
COPY scripts/install.d/runner-go-cache.sh /tmp/kcr/scripts/install.d/runner-go-cache.sh
RUN bash -c 'source /tmp/kcr/scripts/lib/common.sh && source /tmp/kcr/scripts/install.d/runner-go-cache.sh' \
 && test -f /opt/kubecoderun/go-cache-seed/.kcr-version \
 && rm -rf /tmp/kcr /root/.cache
ENV RUNNER_TOOL_GO=/usr/lib/go/bin/go \
    RUNNER_WARM=go
COPY target/image-inputs/runner /usr/local/bin/runner
# Every sandbox pod serves one execution: nothing is warmed again after it.
ENV RUNNER_SINGLE_USE=true
USER 65532:65532
WORKDIR /mnt/data
EXPOSE 8080
# The language is chosen per request; RUNNER_TOKEN (and RUNNER_WARM when the API wants another) come
# from the pod spec. No `env -i`: the runner builds each child's environment itself.
ENTRYPOINT ["/usr/local/bin/runner", "--listen", "0.0.0.0:8080", "--workdir", "/mnt/data", "--scratch", "/tmp/kcr"]
