/** Records of @pssr/db mapped to the API's JSON views (dates as ISO strings, internals left out). */
import type { JobRecord, ModelRecord, StackRecord, UploadRecord } from '@pssr/db';
import { parseRestoreTrust } from '@pssr/queue';
import type { JobTrustView, JobView, StackView } from './schemas.js';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function stackView(s: StackRecord): StackView {
  return {
    id: s.id,
    name: s.name,
    status: s.status,
    frames: s.frames,
    height: s.height,
    width: s.width,
    dtype: s.dtype,
    axis: s.axis,
    pixelSize: s.pixelSizeX !== null && s.pixelSizeY !== null ? { x: s.pixelSizeX, y: s.pixelSizeY, unit: s.pixelUnit ?? '' } : null,
    channels: s.channels ?? 1,
    sha256: s.sha256,
    bytes: s.bytes,
    createdAt: s.createdAt.toISOString(),
  };
}

export function jobView(j: JobRecord): JobView {
  return {
    id: j.id,
    type: j.type,
    status: j.status,
    progress: j.progress,
    inputStackId: j.inputStackId,
    outputStackId: j.outputStackId,
    modelId: j.modelId,
    trainedModelId: j.trainedModelId,
    userId: j.userId,
    options: j.options,
    metrics: j.metrics,
    error: j.errorCode !== null ? { code: j.errorCode, message: j.errorMessage ?? '' } : null,
    trust: trustView(j),
    cancelRequested: j.cancelRequested,
    attempts: j.attempts,
    workerHost: j.workerHost,
    idempotencyKey: j.idempotencyKey,
    queuedAt: j.queuedAt.toISOString(),
    startedAt: iso(j.startedAt),
    finishedAt: iso(j.finishedAt),
    updatedAt: j.updatedAt.toISOString(),
  };
}

/** The trust summary of a succeeded restore (metrics.trust, written by the worker) with the report's paths. */
export function trustView(j: JobRecord): JobTrustView | null {
  const trust = j.type === 'restore' && j.status === 'succeeded' ? parseRestoreTrust(j.metrics['trust']) : null;
  if (!trust) return null;
  // The report goes with the result stack it describes.
  const ok = trust.status === 'ok' && j.outputStackId !== null;
  return { ...trust, report: ok ? `/v1/jobs/${j.id}/report` : null, preview: ok ? `/v1/jobs/${j.id}/preview.png` : null };
}

export function modelVersionView(m: ModelRecord) {
  return {
    id: m.id,
    name: m.name,
    version: m.version,
    public: m.groupId === null,
    sha256: m.sha256,
    createdAt: m.createdAt.toISOString(),
    card: m.card,
  };
}

export type { UploadRecord };
