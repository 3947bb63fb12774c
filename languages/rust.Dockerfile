# syntax=docker/dockerfile:1
# Rust sandbox image: the stable toolchain (rustc; edition 2024 from 1.85). Plain rustc: the standard library only, no crates.
# Build from the repository root: scripts/build-images (or docker build -f languages/rust.Dockerfile .).

# Stage 1: the runner, a static Go binary (standard library only). The same stage in every image.
FROM golang:1.26-bookworm AS runner-build
WORKDIR /src/runner
COPY runner/ ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/runner .

FROM rust:1-slim-bookworm
LABEL dev.kubecoderun.languages="rs"
# The sandbox user (uid/gid 65532, as in the pod spec) and the mount point of the work directory.
RUN groupadd --gid 65532 sandbox \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sandbox \
 && mkdir -p /mnt/data && chown 65532:65532 /mnt/data
# /usr/local/cargo/bin/rustc is a rustup proxy; the runner asks it for its sysroot once and then runs
# the toolchain's own rustc (children get no rustup environment). gcc (in the base image) links.
RUN rustc --version && gcc --version >/dev/null
ENV RUNNER_TOOL_RUSTC=/usr/local/cargo/bin/rustc \
    RUNNER_WARM=
COPY --from=runner-build /out/runner /usr/local/bin/runner
# Every sandbox pod serves one execution: nothing is warmed again after it.
ENV RUNNER_SINGLE_USE=true
USER 65532:65532
WORKDIR /mnt/data
EXPOSE 8080
# The language is chosen per request; RUNNER_TOKEN (and RUNNER_WARM when the API wants another) come
# from the pod spec. No `env -i`: the runner builds each child's environment itself.
ENTRYPOINT ["/usr/local/bin/runner", "--listen", "0.0.0.0:8080", "--workdir", "/mnt/data", "--scratch", "/tmp/kcr"]
