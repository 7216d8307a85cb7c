/** Jobs: submit restore/train (202), list, status, server-sent events, cancel, training metric points. */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AuthContext, JobRecord, JobStatus, ModelRecord, StackRecord } from '@pssr/db';
import { bytesPerSample, isDType, validateTileSpec } from '@pssr/core';
import { parseModelCard } from '@pssr/models';
import type { RestoreJobOptions, RestoreTuning, TrainJobOptions } from '@pssr/queue';
import { FINAL_JOB_STATUSES } from '@pssr/db';
import { callerOf } from '../plugins/auth.js';
import { ApiError, notFound, withTimeout } from '../errors.js';
import {
  CreateJobBody,
  IdParams,
  IdempotencyHeaders,
  JobPageSchema,
  JobSchema,
  ListJobsQuery,
  PointsQuery,
  PointsSchema,
  problemResponses,
  type RestoreJobBody,
  type TrainJobBody,
} from '../schemas.js';
import { jobView } from '../views.js';
import { streamJobEvents } from '../events.js';
import { splitCommaLists } from '../http.js';
import { ensureQuota } from '../lifecycle.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const DEFAULT_MODEL = 'em';

/** A model reference as a group sees it: id, name@version, or name (own latest, else public latest). */
export async function resolveModelRef(app: FastifyInstance, ref: string, groupId: string): Promise<ModelRecord> {
  let model: ModelRecord | null;
  if (UUID_RE.test(ref)) {
    model = await app.db.models.get(ref.toLowerCase(), groupId);
  } else {
    const at = ref.lastIndexOf('@');
    model = at > 0 ? await app.db.models.resolve(ref.slice(0, at), groupId, ref.slice(at + 1)) : await app.db.models.resolve(ref, groupId);
  }
  if (!model) {
    throw new ApiError(404, 'MODEL_NOT_FOUND', `No model "${ref}" is visible to your group; GET /v1/models lists the models you can use.`);
  }
  return model;
}

async function readyStack(app: FastifyInstance, id: string, groupId: string) {
  const stack = await app.db.stacks.get(id, groupId);
  if (!stack) throw notFound('stack', id);
  if (stack.status !== 'ready') throw new ApiError(409, 'STACK_NOT_READY', `Stack ${id} is ${stack.status}, not ready: finish its upload first.`);
  return stack;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** What a job was asked to do, to tell an honest retry from a reused Idempotency-Key. */
export function requestHash(body: unknown): string {
  return createHash('sha256').update(canonical(body)).digest('hex').slice(0, 32);
}

interface JobInput {
  inputStackId: string | null;
  modelId: string | null;
  options: RestoreJobOptions | TrainJobOptions;
}

/**
 * What a restore will need, checked now so the job cannot fail later for a reason known today: the tile
 * size against the model card, the channel against the stack, and the output size against the limit.
 */
function checkRestoreRequest(app: FastifyInstance, stack: StackRecord, model: ModelRecord, tuning: RestoreTuning): void {
  const card = parseModelCard(model.card, `model ${model.name}@${model.version}`);
  if (tuning.tileSize !== undefined) validateTileSpec({ ...card.tile, size: tuning.tileSize }, 'options.tileSize');
  checkChannel(stack, tuning.channel);
  const { height, width, frames, dtype } = stack;
  if (height === null || width === null || frames === null || dtype === null || !isDType(dtype)) return;
  const limits = app.config.limits;
  if (height * width > limits.maxFramePixels) {
    throw new ApiError(413, 'TIFF_TOO_LARGE', `Stack ${stack.id} has frames of ${width} x ${height} = ${width * height} pixels, over this server's limit of ${limits.maxFramePixels} (UPLOAD_MAX_FRAME_PIXELS) for restoring.`);
  }
  const outPixels = frames * height * card.scale * width * card.scale;
  const resultBytes = outPixels * bytesPerSample(dtype);
  // The trust report's float32 maps: consistency at LR size, and with TTA the uncertainty at output size.
  const mapBytes = 4 * frames * height * width + (tuning.tta ? 4 * outPixels : 0);
  const outBytes = resultBytes + mapBytes;
  if (outBytes > limits.maxJobOutputBytes) {
    throw new ApiError(
      413,
      'JOB_OUTPUT_TOO_LARGE',
      `Restoring stack ${stack.id} (${frames} frames of ${width} x ${height} ${dtype}${tuning.tta ? ', with TTA' : ''}) would write ${outBytes} bytes (result ${resultBytes}, trust maps ${mapBytes}), over this server's limit of ${limits.maxJobOutputBytes} per job (JOB_MAX_OUTPUT_BYTES): restore fewer frames per job (split the stack) or ask an admin to raise the limit.`,
    );
  }
}

function checkChannel(stack: StackRecord, channel: number | undefined): void {
  const channels = stack.channels ?? 1;
  if (channels > 1 && channel === undefined) {
    throw new ApiError(400, 'INVALID_ARGUMENT', `Stack ${stack.id} has ${channels} channels; PSSR restores one: choose it with options.channel (0..${channels - 1}).`);
  }
  if (channel !== undefined && channel >= channels) {
    throw new ApiError(400, 'INVALID_ARGUMENT', `options.channel ${channel} does not exist: stack ${stack.id} has ${channels === 1 ? 'a single channel (0)' : `${channels} channels (0..${channels - 1})`}.`);
  }
}

async function restoreInput(app: FastifyInstance, b: RestoreJobBody, groupId: string, hash: string): Promise<JobInput> {
  const stack = await readyStack(app, b.stackId, groupId);
  const modelRef = b.model ?? DEFAULT_MODEL;
  const model = await resolveModelRef(app, modelRef, groupId);
  const tuning = b.options ?? {};
  checkRestoreRequest(app, stack, model, tuning);
  return { inputStackId: b.stackId, modelId: model.id, options: { model: modelRef, ...(b.name ? { name: b.name } : {}), ...tuning, requestHash: hash } };
}

async function trainInput(app: FastifyInstance, b: TrainJobBody, groupId: string, hash: string): Promise<JobInput> {
  for (const id of b.stackIds) {
    const stack = await readyStack(app, id, groupId);
    if ((stack.channels ?? 1) > 1) {
      throw new ApiError(400, 'INVALID_ARGUMENT', `Stack ${id} has ${stack.channels} channels; training reads single-channel stacks: upload one channel per stack.`);
    }
  }
  if (b.init !== undefined) await resolveModelRef(app, b.init, groupId);
  const { type: _type, ...params } = b;
  return { inputStackId: b.stackIds[0] ?? null, modelId: null, options: { ...params, requestHash: hash } };
}

async function createJob(app: FastifyInstance, caller: AuthContext, body: CreateJobBody, idempotencyKey: string | undefined) {
  const groupId = caller.group.id;
  const hash = requestHash(body);
  const input = body.type === 'restore' ? await restoreInput(app, body, groupId, hash) : await trainInput(app, body, groupId, hash);
  // A restore writes a result stack and a train job a model: refuse while the group is at its quota.
  await ensureQuota(app, groupId, 0, 409);
  const t = app.config.dependencyTimeoutMs;
  // Refuse before recording anything when the queue cannot take the job.
  await withTimeout(app.producer.ping(), t, 'Redis').catch(() => {
    throw new ApiError(503, 'QUEUE_UNAVAILABLE', 'The job queue (Redis) is unreachable; retry shortly.');
  });
  const { job, created } = await app.db.jobs.create({
    type: body.type,
    groupId,
    userId: caller.user.id,
    options: input.options,
    idempotencyKey: idempotencyKey ?? null,
    inputStackId: input.inputStackId,
    modelId: input.modelId,
  });
  if (!created) {
    if (job.options['requestHash'] !== hash) {
      throw new ApiError(409, 'IDEMPOTENCY_KEY_REUSED', `Idempotency-Key "${idempotencyKey}" was used for a different request (job ${job.id}); use a new key.`);
    }
    // The first attempt may have died between recording and enqueueing; re-adding is a no-op in BullMQ.
    if (job.status === 'queued') await withTimeout(app.producer.enqueue(job.type, job.id, groupId), t, 'Redis').catch(() => undefined);
    return { job, created };
  }
  try {
    await withTimeout(app.producer.enqueue(job.type, job.id, groupId), t, 'Redis');
  } catch (err) {
    app.log.warn({ err, jobId: job.id }, 'enqueue failed');
    await app.db.jobs.fail(job.id, { code: 'QUEUE_UNAVAILABLE', message: 'The job queue was unreachable when the job was submitted; submit it again.' }).catch(() => undefined);
    throw new ApiError(503, 'QUEUE_UNAVAILABLE', 'The job queue (Redis) is unreachable; retry shortly.');
  }
  return { job, created };
}

export const jobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Submit a restore or train job',
        description:
          'restore: {type:"restore", stackId, model?, options?}; train: {type:"train", stackIds, name, modality, frames?, steps?|minutes?}. ' +
          'Answers 202 with the queued job. With an Idempotency-Key header, a retry returns the same job.',
        headers: IdempotencyHeaders,
        body: CreateJobBody,
        response: { 202: JobSchema, ...problemResponses(404, 409) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const key = request.headers['idempotency-key'];
      const { job, created } = await createJob(app, caller, request.body, typeof key === 'string' ? key : undefined);
      if (!created) reply.header('idempotent-replayed', 'true');
      return reply.code(202).header('location', `/v1/jobs/${job.id}`).send(jobView(job));
    },
  );

  app.get(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'List jobs',
        description: 'Newest first; filter by status (repeatable) and type; pass `nextCursor` back as `cursor` for the next page.',
        querystring: ListJobsQuery,
        response: { 200: JobPageSchema, ...problemResponses() },
      },
      preValidation: splitCommaLists('status'),
    },
    async (request) => {
      const caller = callerOf(request);
      const q = request.query;
      const statuses: JobStatus[] = q.status ?? [];
      const page = await app.db.jobs.list(caller.group.id, {
        ...(statuses.length ? { status: statuses } : {}),
        ...(q.type ? { type: q.type } : {}),
        limit: q.limit ?? 50,
        cursor: q.cursor ?? null,
      });
      return { items: page.items.map(jobView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Job status',
        description: 'Status, progress 0..1, timings, metrics, result ids and the error code and message of a failed job.',
        params: IdParams,
        response: { 200: JobSchema, ...problemResponses(404) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const job = await app.db.jobs.get(request.params.id, caller.group.id);
      if (!job) throw notFound('job', request.params.id);
      return jobView(job);
    },
  );

  app.get(
    '/jobs/:id/events',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Follow a job (server-sent events)',
        description:
          'text/event-stream. Events: `status` (the job, at once and on every status change), `progress` ' +
          '({id, progress, metrics}), `done` (the final job; the stream then ends). Pushed from Postgres (LISTEN/NOTIFY), so it works ' +
          'across API and worker processes. At most EVENTS_MAX_STREAMS_PER_KEY open streams per key (429 TOO_MANY_STREAMS).',
        params: IdParams,
        produces: ['text/event-stream'],
        response: { 200: { type: 'string', description: 'An event stream.' }, ...problemResponses(404, 429) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const job = await app.db.jobs.get(request.params.id, caller.group.id);
      if (!job) throw notFound('job', request.params.id);
      await streamJobEvents(app, request, reply, job, caller.keyId);
    },
  );

  app.delete(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Cancel a job',
        description:
          'A queued job is removed from the queue; a running one is stopped by its worker within seconds (restore) and ' +
          'leaves no result. Canceling a canceled job answers it again; a finished job answers 409.',
        params: IdParams,
        response: { 200: JobSchema, ...problemResponses(404, 409) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const result = await app.db.jobs.cancel(request.params.id, caller.group.id);
      if (!result) throw notFound('job', request.params.id);
      const { job, changed } = result;
      if (!changed && job.status !== 'canceled') {
        throw new ApiError(409, 'JOB_FINISHED', `Job ${job.id} already ${job.status}; only queued or running jobs can be canceled.`);
      }
      if (changed) {
        // Postgres says canceled (the worker polls it); the queue call only makes it quicker.
        await withTimeout(app.producer.cancel(job.type, job.id), app.config.dependencyTimeoutMs, 'Redis').catch((err: unknown) =>
          request.log.warn({ err, jobId: job.id }, 'queue cancel failed; the worker will see the canceled record'),
        );
      }
      return jobView(job);
    },
  );

  app.get(
    '/jobs/:id/points',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Training curves',
        description: 'Metric points of a job (train: loss per step, validation psnr/ssim), oldest first.',
        params: IdParams,
        querystring: PointsQuery,
        response: { 200: PointsSchema, ...problemResponses(404) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const job = await app.db.jobs.get(request.params.id, caller.group.id);
      if (!job) throw notFound('job', request.params.id);
      const points = await app.db.jobs.metricPoints(job.id, request.query.name ? { name: request.query.name } : {});
      return { items: points.map((p) => ({ step: p.step, name: p.name, value: p.value, at: p.at.toISOString() })) };
    },
  );
};

export function isFinal(job: JobRecord): boolean {
  return FINAL_JOB_STATUSES.includes(job.status);
}
