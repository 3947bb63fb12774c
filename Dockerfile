# syntax=docker/dockerfile:1
# The API image: the Helidon SE service on Debian's OpenJDK 21 JRE, non-root (65532), for the Kubernetes
# backend. Build from the repository root with `scripts/build-images api`: it builds the jar and its
# runtime libraries on the host first (scripts/build) into target/image-inputs/api, which this file
# copies in. BASE is Debian 13, like the sandbox images (docs/kubernetes.md, "One Debian base").
ARG BASE=debian:trixie-slim

FROM ${BASE}
# The JRE's postinst links its man pages with update-alternatives, which fails without man1 (slim
# images drop /usr/share/man).
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-21-jre-headless \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 65532 kubecoderun \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin kubecoderun \
 && mkdir -p /data && chown 65532:65532 /data
# The libraries first: they change less often than the jar (target/lib, named in the jar's Class-Path).
COPY target/image-inputs/api/lib /app/lib
COPY target/image-inputs/api/kubecoderun.jar /app/kubecoderun.jar
# DATA_DIR holds the embedded stores when Redis/S3 are not configured (the chart mounts a volume there).
ENV DATA_DIR=/data
USER 65532:65532
WORKDIR /app
EXPOSE 8000
# The heap follows the container's memory limit; an OutOfMemoryError ends the process so Kubernetes
# restarts it instead of leaving it half-working. No perf data file (read-only root, /tmp is small).
ENTRYPOINT ["java", "-XX:MaxRAMPercentage=75", "-XX:+ExitOnOutOfMemoryError", "-XX:-UsePerfData", "-jar", "/app/kubecoderun.jar"]
