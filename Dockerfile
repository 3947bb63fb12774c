# syntax=docker/dockerfile:1
# The API image: the Helidon SE service on a JRE 21, non-root (65532), for the Kubernetes backend.
# Build from the repository root: scripts/build-images api (or docker build .).

# Stage 1: the jar and its runtime libraries (target/lib, named in the jar's Class-Path).
FROM maven:3.9-eclipse-temurin-21 AS build
WORKDIR /src
COPY pom.xml ./
COPY src/main ./src/main
# The sandboxes' library lists, bundled in the jar for GET /languages.
COPY languages ./languages
RUN --mount=type=cache,target=/root/.m2 \
    mvn -B -q -DskipTests package

FROM eclipse-temurin:21-jre
RUN groupadd --gid 65532 kubecoderun \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin kubecoderun \
 && mkdir -p /data && chown 65532:65532 /data
COPY --from=build /src/target/lib /app/lib
COPY --from=build /src/target/kubecoderun.jar /app/kubecoderun.jar
# DATA_DIR holds the embedded stores when Redis/S3 are not configured (the chart mounts a volume there).
ENV DATA_DIR=/data
USER 65532:65532
WORKDIR /app
EXPOSE 8000
# The heap follows the container's memory limit; an OutOfMemoryError ends the process so Kubernetes
# restarts it instead of leaving it half-working. No perf data file (read-only root, /tmp is small).
ENTRYPOINT ["java", "-XX:MaxRAMPercentage=75", "-XX:+ExitOnOutOfMemoryError", "-XX:-UsePerfData", "-jar", "/app/kubecoderun.jar"]
