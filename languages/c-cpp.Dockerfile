# syntax=docker/dockerfile:1
# C and C++ sandbox image: GCC 14 (gcc, g++ with C++20) and common header-only libraries.
# Build from the repository root with `scripts/build-images c-cpp`: it first builds the runner (a static
# Go binary, the same in every image) into target/image-inputs/runner, which this file copies in. BASE is
# Debian 13 (docs/kubernetes.md, "One Debian base"); scripts/build-images --debootstrap makes it locally.
ARG BASE=debian:trixie-slim

FROM ${BASE}
LABEL dev.kubecoderun.languages="c cpp"
# The sandbox user (uid/gid 65532, the pod spec's default) and the mount point of the work directory.
RUN groupadd --gid 65532 sandbox \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sandbox \
 && mkdir -p /mnt/data && chown 65532:65532 /mnt/data
# The runner compiles with `gcc ... -lm` and `g++ -std=gnu++20`; only header-only libraries are usable
# (nothing else is linked): the Debian packages of languages/c-cpp/packages.txt, the list the local
# install reads too.
COPY languages/c-cpp/packages.txt /tmp/packages.txt
RUN apt-get update \
 && awk '!/^#/ && NF {print $1}' /tmp/packages.txt | DEBIAN_FRONTEND=noninteractive xargs apt-get install -y --no-install-recommends gcc g++ libc6-dev \
 && rm -rf /var/lib/apt/lists/* /tmp/packages.txt
ENV RUNNER_TOOL_GCC=/usr/bin/gcc \
    RUNNER_TOOL_GXX=/usr/bin/g++ \
    RUNNER_WARM=
COPY target/image-inputs/runner /usr/local/bin/runner
# Every sandbox pod serves one execution: nothing is warmed again after it.
ENV RUNNER_SINGLE_USE=true
USER 65532:65532
WORKDIR /mnt/data
EXPOSE 8080
# The language is chosen per request; RUNNER_TOKEN (and RUNNER_WARM when the API wants another) come
# from the pod spec. No `env -i`: the runner builds each child's environment itself.
ENTRYPOINT ["/usr/local/bin/runner", "--listen", "0.0.0.0:8080", "--workdir", "/mnt/data", "--scratch", "/tmp/kcr"]
