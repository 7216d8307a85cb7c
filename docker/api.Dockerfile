# syntax=docker/dockerfile:1.7
# PSSR API image: Node 20 slim with the API's production dependencies only (no onnxruntime, no Python, no
# build step: tsx runs the TypeScript sources). Build from the repository root:
#   docker build -f docker/api.Dockerfile -t pssr-api .
ARG NODE_IMAGE=node:20-bookworm-slim

# --- Stage 1: generate the Prisma client (needs the prisma CLI, a devDependency, and nothing else).
FROM ${NODE_IMAGE} AS prisma-client
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# Every workspace manifest, so npm ci sees the same workspace set as package-lock.json.
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

# --- Stage 2: the runtime.
FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="pssr-api" \
      org.opencontainers.image.description="PSSR REST API (Fastify): uploads, jobs, models, metrics"
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
# Only @pssr/api's dependency tree (+ the root's tsx); install scripts are not needed by any of them.
RUN npm ci --omit=dev --ignore-scripts -w @pssr/api --include-workspace-root && npm cache clean --force
COPY tsconfig.json ./
COPY prisma prisma
COPY packages/core/src packages/core/src
COPY packages/tiff/src packages/tiff/src
COPY packages/models packages/models
COPY packages/storage/src packages/storage/src
COPY packages/config/src packages/config/src
COPY packages/queue/src packages/queue/src
COPY packages/db/src packages/db/src
COPY --from=prisma-client /app/packages/db/src/generated packages/db/src/generated
COPY services/api/src services/api/src
COPY services/api/web services/api/web
USER node
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
# Migrations run as a separate one-shot step (compose "migrate" service, k8s init container):
#   node --import tsx packages/db/src/migrate-cli.ts
CMD ["node", "--import", "tsx", "services/api/src/server.ts"]
