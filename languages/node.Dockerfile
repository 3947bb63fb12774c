# syntax=docker/dockerfile:1
# Node.js sandbox image for js and ts: Debian's Node 20, TypeScript with @types/node, common npm libraries (on NODE_PATH).
# Build from the repository root with `scripts/build-images node`: it first builds the runner (a static
# Go binary, the same in every image) into target/image-inputs/runner, which this file copies in. BASE is
# Debian 13 (docs/kubernetes.md, "One Debian base"); scripts/build-images --debootstrap makes it locally.
ARG BASE=debian:trixie-slim

# Stage 1: the npm packages user code can use, with TypeScript and the @types (languages/node/package.json,
# locked in package-lock.json), installed by the same script as on the local backend into
# /opt/kubecoderun/node/node_modules. npm itself stays in this stage. A TLS-inspecting proxy's CA, when
# the build is given one (the secret build-ca: scripts/build-images, BUILD_CA_FILE), is trusted for the
# downloads.
FROM ${BASE} AS node-libs
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/lib/common.sh /tmp/kcr/scripts/lib/common.sh
COPY scripts/install.d/libs-node.sh /tmp/kcr/scripts/install.d/libs-node.sh
COPY languages/node/package.json languages/node/package-lock.json /tmp/kcr/languages/node/
RUN --mount=type=cache,target=/opt/kubecoderun/cache --mount=type=secret,id=build-ca \
    if [ -f /run/secrets/build-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/build-ca; fi \
 && bash -c 'source /tmp/kcr/scripts/lib/common.sh && source /tmp/kcr/scripts/install.d/libs-node.sh' \
 && node /opt/kubecoderun/node/node_modules/typescript/lib/tsc.js --version \
 && rm -rf /tmp/kcr

FROM ${BASE}
LABEL dev.kubecoderun.languages="js ts"
# The sandbox user (uid/gid 65532, the pod spec's default) and the mount point of the work directory.
RUN groupadd --gid 65532 sandbox \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sandbox \
 && mkdir -p /mnt/data && chown 65532:65532 /mnt/data
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs \
 && rm -rf /var/lib/apt/lists/*
# The runner runs tsc.js with node (RUNNER_TOOL_TSC) and puts that node_modules on NODE_PATH for
# require() and next to code.js and code.ts for import and tsc.
COPY --from=node-libs /opt/kubecoderun/ /opt/kubecoderun/
ENV RUNNER_TOOL_NODE=/usr/bin/node \
    RUNNER_TOOL_TSC=/opt/kubecoderun/node/node_modules/typescript/lib/tsc.js \
    RUNNER_WARM=js
COPY target/image-inputs/runner /usr/local/bin/runner
# Every sandbox pod serves one execution: nothing is warmed again after it.
ENV RUNNER_SINGLE_USE=true
USER 65532:65532
WORKDIR /mnt/data
EXPOSE 8080
# The language is chosen per request; RUNNER_TOKEN (and RUNNER_WARM when the API wants another) come
# from the pod spec. No `env -i`: the runner builds each child's environment itself.
ENTRYPOINT ["/usr/local/bin/runner", "--listen", "0.0.0.0:8080", "--workdir", "/mnt/data", "--scratch", "/tmp/kcr"]
