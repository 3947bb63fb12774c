# syntax=docker/dockerfile:1
# Java sandbox image: a JDK 25 (the runner uses the multi-file source launcher, JDK 22+) with an AOT cache of the launcher's classes.
# Build from the repository root: scripts/build-images (or docker build -f languages/java.Dockerfile .).

# Stage 1: the runner, a static Go binary (standard library only). The same stage in every image.
FROM golang:1.26-bookworm AS runner-build
WORKDIR /src/runner
COPY runner/ ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/runner .

FROM eclipse-temurin:25-jdk-noble
LABEL dev.kubecoderun.languages="java"
# The sandbox user (uid/gid 65532, as in the pod spec) and the mount point of the work directory.
RUN groupadd --gid 65532 sandbox \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sandbox \
 && mkdir -p /mnt/data && chown 65532:65532 /mnt/data
# JDK AOT cache (JEP 483/514) for the source launcher, built by the same script as on the local
# backend with the runner's JVM flags: about twice as fast a start. The runner finds it as
# /opt/kubecoderun/java-aot/openjdk.aot (named after the JDK directory).
COPY scripts/lib/common.sh /tmp/kcr/scripts/lib/common.sh
COPY scripts/install.d/runner-java-aot.sh /tmp/kcr/scripts/install.d/runner-java-aot.sh
RUN KCR_JDK_DIRS=/opt/java/openjdk bash -c 'source /tmp/kcr/scripts/lib/common.sh && source /tmp/kcr/scripts/install.d/runner-java-aot.sh' \
 && test -f /opt/kubecoderun/java-aot/openjdk.aot \
 && rm -rf /tmp/kcr
ENV RUNNER_TOOL_JAVA=/opt/java/openjdk/bin/java \
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
