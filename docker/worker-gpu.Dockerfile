# syntax=docker/dockerfile:1.7
# PSSR GPU worker image: CUDA 13 + cuDNN 9 runtime, Node 20, onnxruntime-node 1.29.0 with its CUDA execution
# provider, and the trainer's Python + PyTorch (CUDA build). See ../shared/gpu/README.md: the CUDA 13 provider
# libraries come from the npm package com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 (a repackaging of the
# official ONNX Runtime 1.29.0 CUDA 13 build) and are copied next to libonnxruntime.so.1.
#   docker build -f docker/worker-gpu.Dockerfile -t pssr-worker-gpu .
ARG CUDA_IMAGE=nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04
ARG NODE_IMAGE=node:20-bookworm-slim
ARG ORT_GPU_PACKAGE=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
# PyTorch wheels built for CUDA 13.0; pin TORCH_VERSION for reproducible images.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130
ARG TORCH_VERSION=

FROM ${NODE_IMAGE} AS prisma-client
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json .npmrc ./
COPY packages/core/package.json packages/core/
COPY packages/tiff/package.json packages/tiff/
COPY packages/inference/package.json packages/inference/
COPY packages/models/package.json packages/models/
COPY packages/report/package.json packages/report/
COPY packages/storage/package.json packages/storage/
COPY packages/config/package.json packages/config/
COPY packages/queue/package.json packages/queue/
COPY packages/db/package.json packages/db/
COPY packages/trainer/package.json packages/trainer/
COPY packages/cli/package.json packages/cli/
COPY services/api/package.json services/api/
COPY services/worker/package.json services/worker/
RUN npm ci --ignore-scripts -w @pssr/db --include-workspace-root
COPY prisma.config.ts ./
COPY prisma prisma
RUN PRISMA_SCHEMA_ENGINE_BINARY=/bin/true npx prisma generate --no-hints

# --- node_modules for the worker, with the CUDA provider placed where onnxruntime-node loads it from.
FROM ${NODE_IMAGE} AS node-deps
ARG ORT_GPU_PACKAGE
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json .npmrc ./
COPY packages/core/package.json packages/core/
COPY packages/tiff/package.json packages/tiff/
COPY packages/inference/package.json packages/inference/
COPY packages/models/package.json packages/models/
COPY packages/report/package.json packages/report/
COPY packages/storage/package.json packages/storage/
COPY packages/config/package.json packages/config/
COPY packages/queue/package.json packages/queue/
COPY packages/db/package.json packages/db/
COPY packages/trainer/package.json packages/trainer/
COPY packages/cli/package.json packages/cli/
COPY services/api/package.json services/api/
COPY services/worker/package.json services/worker/
RUN npm ci --omit=dev --ignore-scripts -w @pssr/worker --include-workspace-root && npm cache clean --force
RUN test "$(node -p "require('onnxruntime-node/package.json').version")" = "1.29.0" \
 && mkdir /tmp/ort-gpu && cd /tmp/ort-gpu \
 && npm pack --silent "${ORT_GPU_PACKAGE}" && tar xzf ./*.tgz \
 && cp package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so \
       package/Plugins/Linux/x64/libonnxruntime_providers_shared.so \
       /app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/ \
 && rm -rf /tmp/ort-gpu \
 && find /app/node_modules/onnxruntime-node/bin -mindepth 3 -maxdepth 3 -type d ! -path '*/linux/x64' -exec rm -rf {} +

FROM ${CUDA_IMAGE}
ARG TORCH_INDEX_URL
ARG TORCH_VERSION
LABEL org.opencontainers.image.title="pssr-worker-gpu" \
      org.opencontainers.image.description="PSSR worker (restore and train jobs) on one NVIDIA GPU"
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch${TORCH_VERSION:+==${TORCH_VERSION}}" \
 && /opt/venv/bin/pip install --no-cache-dir numpy onnx scikit-image tifffile
# Node 20 from the official image (glibc 2.36 build; runs on Ubuntu 24.04's glibc 2.39).
COPY --from=node-deps /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=node-deps /app/node_modules node_modules
COPY package.json tsconfig.json ./
COPY packages/core/package.json packages/core/
COPY packages/tiff/package.json packages/tiff/
COPY packages/inference/package.json packages/inference/
COPY packages/models/package.json packages/models/
COPY packages/report/package.json packages/report/
COPY packages/storage/package.json packages/storage/
COPY packages/config/package.json packages/config/
COPY packages/queue/package.json packages/queue/
COPY packages/db/package.json packages/db/
COPY packages/trainer/package.json packages/trainer/
COPY services/worker/package.json services/worker/
COPY prisma prisma
COPY packages/core/src packages/core/src
COPY packages/tiff/src packages/tiff/src
COPY packages/models packages/models
COPY packages/report/src packages/report/src
COPY packages/inference/src packages/inference/src
COPY packages/storage/src packages/storage/src
COPY packages/config/src packages/config/src
COPY packages/queue/src packages/queue/src
COPY packages/db/src packages/db/src
COPY packages/trainer/src packages/trainer/src
COPY packages/trainer/pssr_trainer packages/trainer/pssr_trainer
COPY --from=prisma-client /app/packages/db/src/generated packages/db/src/generated
COPY services/worker/src services/worker/src
RUN useradd --create-home --uid 10001 pssr && mkdir -p /scratch && chown pssr:pssr /scratch
USER pssr
ENV NODE_ENV=production WORKER_DEVICE=cuda WORKER_TMP_DIR=/scratch PSSR_PYTHON=/opt/venv/bin/python \
    LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/lib/x86_64-linux-gnu:/usr/local/nvidia/lib:/usr/local/nvidia/lib64 \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "tsx", "services/worker/src/main.ts"]
