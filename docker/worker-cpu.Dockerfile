# syntax=docker/dockerfile:1.7
# PSSR CPU worker image: Node 20 + onnxruntime-node (CPU provider) + the trainer's Python and PyTorch from
# Debian bookworm (torch 1.13, onnx 1.12, scikit-image 0.19, tifffile: the versions the test suite uses).
#   docker build -f docker/worker-cpu.Dockerfile -t pssr-worker-cpu .
ARG NODE_IMAGE=node:20-bookworm-slim

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

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="pssr-worker-cpu" \
      org.opencontainers.image.description="PSSR worker (restore and train jobs) on CPU"
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-numpy python3-torch python3-onnx \
      python3-skimage python3-tifffile ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
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
# onnxruntime-node ships its CPU libraries in the package; its install script (a CUDA download) stays off.
RUN npm ci --omit=dev --ignore-scripts -w @pssr/worker --include-workspace-root && npm cache clean --force
COPY tsconfig.json ./
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
RUN mkdir -p /scratch && chown node:node /scratch
USER node
ENV WORKER_DEVICE=cpu WORKER_TMP_DIR=/scratch PSSR_PYTHON=/usr/bin/python3
# tini forwards SIGTERM to node (graceful: running jobs finish) and reaps the trainer subprocesses.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "tsx", "services/worker/src/main.ts"]
