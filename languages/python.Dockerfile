# syntax=docker/dockerfile:1
# Python sandbox image: Debian's CPython 3.13 with the common data libraries; the runner keeps a warm interpreter with numpy, pandas and matplotlib imported.
# Build from the repository root with `scripts/build-images python`: it first builds the runner (a static
# Go binary, the same in every image) into target/image-inputs/runner, which this file copies in. BASE is
# Debian 13 (docs/kubernetes.md, "One Debian base"); scripts/build-images --debootstrap makes it locally.
ARG BASE=debian:trixie-slim

FROM ${BASE}
LABEL dev.kubecoderun.languages="py"
# The sandbox user (uid/gid 65532, the pod spec's default) and the mount point of the work directory.
RUN groupadd --gid 65532 sandbox \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sandbox \
 && mkdir -p /mnt/data && chown 65532:65532 /mnt/data
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
# The Python libraries user code can import (languages/python/requirements.txt, locked with hashes in
# requirements.lock), installed by the same script as on the local backend into the venv
# /opt/kubecoderun/venv, whose python3 the runner runs: cloudpickle and lz4 carry Python state between
# runs; numpy, pandas and matplotlib are pre-imported by the warm interpreter (RUNNER_PY_PRELOAD).
# Then matplotlib's font list, built once here: the runner copies it into each sandbox's MPLCONFIGDIR
# (RUNNER_MPL_CACHE_SEED, default /opt/kubecoderun/mpl-cache) instead of scanning fonts per pod.
# Downloads go to a build cache mount, not into the image; a TLS-inspecting proxy's CA, when the build is
# given one (the secret build-ca: scripts/build-images, BUILD_CA_FILE), is trusted for them.
ENV RUNNER_TOOL_PYTHON=/opt/kubecoderun/venv/bin/python3 \
    RUNNER_WARM=py
COPY scripts/lib/common.sh /tmp/kcr/scripts/lib/common.sh
COPY scripts/install.d/libs-python.sh scripts/install.d/runner-mpl-cache.sh /tmp/kcr/scripts/install.d/
COPY languages/python/requirements.lock /tmp/kcr/languages/python/requirements.lock
RUN --mount=type=cache,target=/opt/kubecoderun/cache --mount=type=secret,id=build-ca \
    if [ -f /run/secrets/build-ca ]; then export PIP_CERT=/run/secrets/build-ca; fi \
 && KCR_PYTHON=/usr/bin/python3 bash -c 'source /tmp/kcr/scripts/lib/common.sh && source /tmp/kcr/scripts/install.d/libs-python.sh && source /tmp/kcr/scripts/install.d/runner-mpl-cache.sh' \
 && /opt/kubecoderun/venv/bin/python3 -c "import numpy, pandas, matplotlib, cloudpickle, lz4.frame" \
 && ls /opt/kubecoderun/mpl-cache/fontlist-*.json \
 && chmod -R a+rX /opt/kubecoderun \
 && rm -rf /tmp/kcr
COPY target/image-inputs/runner /usr/local/bin/runner
# Every sandbox pod serves one execution: nothing is warmed again after it.
ENV RUNNER_SINGLE_USE=true
USER 65532:65532
WORKDIR /mnt/data
EXPOSE 8080
# The language is chosen per request; RUNNER_TOKEN (and RUNNER_WARM when the API wants another) come
# from the pod spec. No `env -i`: the runner builds each child's environment itself.
ENTRYPOINT ["/usr/local/bin/runner", "--listen", "0.0.0.0:8080", "--workdir", "/mnt/data", "--scratch", "/tmp/kcr"]
