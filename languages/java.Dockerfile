# syntax=docker/dockerfile:1
# Java sandbox image: Debian's OpenJDK 25 (the runner uses the multi-file source launcher, JDK 22+) with an AOT cache of the launcher's classes.
# Build from the repository root with `scripts/build-images java`: it first builds the runner (a static
# Go binary, the same in every image) into target/image-inputs/runner, which this file copies in. BASE is
# Debian 13 (docs/kubernetes.md, "One Debian base"); scripts/build-images --debootstrap makes it locally.
ARG BASE=debian:trixie-slim

FROM ${BASE}
LABEL dev.kubecoderun.languages="java"
# The sandbox user (uid/gid 65532, the pod spec's default) and the mount point of the work directory.
RUN groupadd --gid 65532 sandbox \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sandbox \
 && mkdir -p /mnt/data && chown 65532:65532 /mnt/data
# The JDK's postinst links its man pages with update-alternatives, which fails without man1 (slim
# images drop /usr/share/man).
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-25-jdk-headless \
 && rm -rf /var/lib/apt/lists/*
# JDK AOT cache (JEP 483/514) for the source launcher, built by the same script as on the local
# backend with the runner's JVM flags: about twice as fast a start. The runner finds it as
# /opt/kubecoderun/java-aot/<JDK directory>.aot, the directory /usr/bin/java leads to.
COPY scripts/lib/common.sh /tmp/kcr/scripts/lib/common.sh
COPY scripts/install.d/runner-java-aot.sh /tmp/kcr/scripts/install.d/runner-java-aot.sh
RUN jdk="$(dirname "$(dirname "$(readlink -f /usr/bin/java)")")" \
 && KCR_JDK_DIRS="$jdk" bash -c 'source /tmp/kcr/scripts/lib/common.sh && source /tmp/kcr/scripts/install.d/runner-java-aot.sh' \
 && test -f "/opt/kubecoderun/java-aot/$(basename "$jdk").aot" \
 && rm -rf /tmp/kcr
ENV RUNNER_TOOL_JAVA=/usr/bin/java \
    RUNNER_TOOL_JAVAC=/usr/bin/javac \
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
