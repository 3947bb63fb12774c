# syntax=docker/dockerfile:1
# Python sandbox image: CPython 3.12 with the common data libraries; the runner keeps a warm interpreter with numpy, pandas and matplotlib imported.
# Build from the repository root: scripts/build-images (or docker build -f languages/python.Dockerfile .).

# Stage 1: the runner, a static Go binary (standard library only). The same stage in every image.
FROM golang:1.26-bookworm AS runner-build
WORKDIR /src/runner
COPY runner/ ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/runner .

FROM python:3.12-slim-bookworm
LABEL dev.kubecoderun.languages="py"
# The sandbox user (uid/gid 65532, as in the pod spec) and the mount point of the work directory.
RUN groupadd --gid 65532 sandbox \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sandbox \
 && mkdir -p /mnt/data && chown 65532:65532 /mnt/data
# The Python libraries user code can import (languages/python/requirements.txt, locked with hashes in
# requirements.lock), installed by the same script as on the local backend into the venv
# /opt/kubecoderun/venv, whose python3 the runner runs: cloudpickle and lz4 carry Python state between
# runs; numpy, pandas and matplotlib are pre-imported by the warm interpreter (RUNNER_PY_PRELOAD).
# Then matplotlib's font list, built once here: the runner copies it into each sandbox's MPLCONFIGDIR
# (RUNNER_MPL_CACHE_SEED, default /opt/kubecoderun/mpl-cache) instead of scanning fonts per pod.
ENV RUNNER_TOOL_PYTHON=/opt/kubecoderun/venv/bin/python3 \
    RUNNER_WARM=py
COPY scripts/lib/common.sh /tmp/kcr/scripts/lib/common.sh
COPY scripts/install.d/libs-python.sh scripts/install.d/runner-mpl-cache.sh /tmp/kcr/scripts/install.d/
COPY languages/python/requirements.lock /tmp/kcr/languages/python/requirements.lock
RUN --mount=type=cache,target=/opt/kubecoderun/cache \
    KCR_PYTHON=/usr/local/bin/python3 bash -c 'source /tmp/kcr/scripts/lib/common.sh && source /tmp/kcr/scripts/install.d/libs-python.sh && source /tmp/kcr/scripts/install.d/runner-mpl-cache.sh' \
 && /opt/kubecoderun/venv/bin/python3 -c "import numpy, pandas, matplotlib, cloudpickle, lz4.frame" \
 && ls /opt/kubecoderun/mpl-cache/fontlist-*.json \
 && chmod -R a+rX /opt/kubecoderun \
 && rm -rf /tmp/kcr
COPY --from=runner-build /out/runner /usr/local/bin/runner
# Every sandbox pod serves one execution: nothing is warmed again after it.
ENV RUNNER_SINGLE_USE=true
USER 65532:65532
WORKDIR /mnt/data
EXPOSE 8080
# The language is chosen per request; RUNNER_TOKEN (and RUNNER_WARM when the API wants another) come
# from the pod spec. No `env -i`: the runner builds each child's environment itself.
ENTRYPOINT ["/usr/local/bin/runner", "--listen", "0.0.0.0:8080", "--workdir", "/mnt/data", "--scratch", "/tmp/kcr"]
