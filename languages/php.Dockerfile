# syntax=docker/dockerfile:1
# PHP sandbox image: PHP 8.4 CLI with the common extensions.
# Build from the repository root with `scripts/build-images php`: it first builds the runner (a static
# Go binary, the same in every image) into target/image-inputs/runner, which this file copies in. BASE is
# Debian 13 (docs/kubernetes.md, "One Debian base"); scripts/build-images --debootstrap makes it locally.
ARG BASE=debian:trixie-slim

FROM ${BASE}
LABEL dev.kubecoderun.languages="php"
# The sandbox user (uid/gid 65532, the pod spec's default) and the mount point of the work directory.
RUN groupadd --gid 65532 sandbox \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sandbox \
 && mkdir -p /mnt/data && chown 65532:65532 /mnt/data
# The extensions user code can use: the Debian packages of languages/php/packages.txt, the list the local
# install reads too.
COPY languages/php/packages.txt /tmp/packages.txt
RUN apt-get update \
 && awk '!/^#/ && NF {print $1}' /tmp/packages.txt | DEBIAN_FRONTEND=noninteractive xargs apt-get install -y --no-install-recommends php-cli \
 && rm -rf /var/lib/apt/lists/* /tmp/packages.txt
ENV RUNNER_TOOL_PHP=/usr/bin/php \
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
