# syntax=docker/dockerfile:1
# Node.js sandbox image for js and ts: Node 22, TypeScript with @types/node, common npm libraries (on NODE_PATH).
# Build from the repository root: scripts/build-images (or docker build -f languages/node.Dockerfile .).

# Stage 1: the runner, a static Go binary (standard library only). The same stage in every image.
FROM golang:1.26-bookworm AS runner-build
WORKDIR /src/runner
COPY runner/ ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/runner .

FROM node:22-bookworm-slim
LABEL dev.kubecoderun.languages="js ts"
# The sandbox user (uid/gid 65532, as in the pod spec) and the mount point of the work directory.
RUN groupadd --gid 65532 sandbox \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sandbox \
 && mkdir -p /mnt/data && chown 65532:65532 /mnt/data
# The npm packages user code can use, with TypeScript and the @types (languages/node/package.json,
# locked in package-lock.json), installed by the same script as on the local backend into
# /opt/kubecoderun/node/node_modules. The runner runs tsc.js with node (RUNNER_TOOL_TSC) and puts that
# node_modules on NODE_PATH for require() and next to code.ts for tsc.
COPY scripts/lib/common.sh /tmp/kcr/scripts/lib/common.sh
COPY scripts/install.d/libs-node.sh /tmp/kcr/scripts/install.d/libs-node.sh
COPY languages/node/package.json languages/node/package-lock.json /tmp/kcr/languages/node/
RUN --mount=type=cache,target=/opt/kubecoderun/cache \
    bash -c 'source /tmp/kcr/scripts/lib/common.sh && source /tmp/kcr/scripts/install.d/libs-node.sh' \
 && node /opt/kubecoderun/node/node_modules/typescript/lib/tsc.js --version \
 && rm -rf /tmp/kcr
ENV RUNNER_TOOL_NODE=/usr/local/bin/node \
    RUNNER_TOOL_TSC=/opt/kubecoderun/node/node_modules/typescript/lib/tsc.js \
    RUNNER_WARM=js
COPY --from=runner-build /out/runner /usr/local/bin/runner
# Every sandbox pod serves one execution: nothing is warmed again after it.
ENV RUNNER_SINGLE_USE=true
USER 65532:65532
WORKDIR /mnt/data
EXPOSE 8080
# The language is chosen per request; RUNNER_TOKEN (and RUNNER_WARM when the API wants another) come
# from the pod spec. No `env -i`: the runner builds each child's environment itself.
ENTRYPOINT ["/usr/local/bin/runner", "--listen", "0.0.0.0:8080", "--workdir", "/mnt/data", "--scratch", "/tmp/kcr"]
