/**
 * TypeBox schemas of the REST API v1: they validate requests, serialise responses (unknown fields are
 * dropped, so internals cannot leak) and generate the OpenAPI document.
 */
import { Type, type Static, type TSchema } from '@fastify/type-provider-typebox';
import { ModelRefSchema, RestoreTrustSchema, RestoreTuningSchema, TrainParamsSchema } from '@pssr/queue';

const Uuid = (description?: string) => Type.String({ format: 'uuid', ...(description ? { description } : {}) });
const DateTimeString = Type.String({ format: 'date-time' });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const JsonObject = Type.Object({}, { additionalProperties: true });

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String({ description: 'Stable machine-readable error code, e.g. STACK_NOT_FOUND, NOT_A_TIFF, RATE_LIMITED.' }),
    detail: Type.String(),
    instance: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
  },
  { $id: 'Problem', additionalProperties: true, description: 'RFC 9457 problem document (application/problem+json).' },
);

export const IdParams = Type.Object({ id: Uuid() });
export type IdParams = Static<typeof IdParams>;

// ---- stacks ------------------------------------------------------------------------------------------------

export const PixelSizeSchema = Type.Object({ x: Type.Number(), y: Type.Number(), unit: Type.String() });

export const StackSchema = Type.Object(
  {
    id: Uuid(),
    name: Type.String(),
    status: Type.Union([Type.Literal('uploading'), Type.Literal('ready'), Type.Literal('failed')]),
    frames: Nullable(Type.Integer()),
    height: Nullable(Type.Integer()),
    width: Nullable(Type.Integer()),
    dtype: Nullable(Type.String({ description: 'uint8 | uint16 | float32' })),
    axis: Nullable(Type.String({ description: 'T (time-lapse) or Z (z-stack)' })),
    pixelSize: Nullable(PixelSizeSchema),
    channels: Type.Integer({ minimum: 1, description: 'Channels in the file (RGB samples or channel pages); a restore job of a multi-channel stack names one with options.channel.' }),
    sha256: Nullable(Type.String()),
    bytes: Nullable(Type.Integer()),
    createdAt: DateTimeString,
  },
  { $id: 'Stack' },
);
export type StackView = Static<typeof StackSchema>;

export const StackStatusSchema = Type.Union([Type.Literal('uploading'), Type.Literal('ready'), Type.Literal('failed')]);

export const ListStacksQuery = Type.Object({
  status: Type.Optional(StackStatusSchema),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Only stacks whose name contains this (case-insensitive).' })),
  createdAfter: Type.Optional(Type.String({ format: 'date-time', description: 'Only stacks created at or after this time.' })),
  createdBefore: Type.Optional(Type.String({ format: 'date-time', description: 'Only stacks created before this time.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 500 })),
});
export type ListStacksQuery = Static<typeof ListStacksQuery>;

export const StackPageSchema = Type.Object({ items: Type.Array(StackSchema), nextCursor: Nullable(Type.String()) });

export const UploadStackQuery = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Stack name (default: the file name, or "stack.tif").' })),
});

export const DataQuery = Type.Object({
  redirect: Type.Optional(Type.Boolean({ description: 'Redirect to a presigned URL (S3 storage) instead of streaming through the API.' })),
});

export const CreateUploadBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 255 }),
    bytes: Type.Integer({ minimum: 1, description: 'Total size of the TIFF in bytes.' }),
    partSize: Type.Optional(Type.Integer({ minimum: 5 * 2 ** 20, maximum: 5 * 2 ** 30, description: 'Bytes per part (all but the last); default set by the server.' })),
  },
  { additionalProperties: false },
);
export type CreateUploadBody = Static<typeof CreateUploadBody>;

export const PartUrlSchema = Type.Object({
  partNumber: Type.Integer({ minimum: 1 }),
  method: Type.Literal('PUT'),
  url: Type.String({ description: 'Absolute presigned S3 URL, or an API path (send the API key) when the store cannot presign.' }),
  proxied: Type.Boolean({ description: 'true: PUT to the API with your key; false: PUT directly, without headers of your own.' }),
});

export const UploadSchema = Type.Object(
  {
    id: Uuid(),
    stackId: Uuid(),
    bytes: Type.Integer(),
    partSize: Type.Integer(),
    parts: Type.Integer(),
    completed: Type.Boolean(),
    received: Type.Array(Type.Object({ partNumber: Type.Integer(), size: Type.Integer() })),
    missing: Type.Array(Type.Integer(), { description: 'Part numbers not received yet: (re-)send these, then complete.' }),
    partUrls: Type.Array(PartUrlSchema, { description: 'Where to PUT each missing part.' }),
    expiresAt: DateTimeString,
  },
  { $id: 'Upload' },
);
export type UploadView = Static<typeof UploadSchema>;

export const PartParams = Type.Object({ id: Uuid(), part: Type.Integer({ minimum: 1, maximum: 10000 }) });

// ---- jobs ----------------------------------------------------------------------------------------------------

// Job options are typed once in @pssr/queue; the worker reads the stored options with the same schemas.
export const RestoreJobBody = Type.Object(
  {
    type: Type.Literal('restore'),
    stackId: Uuid('The low-resolution stack to restore.'),
    model: Type.Optional(ModelRefSchema),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Name of the result stack.' })),
    options: Type.Optional(RestoreTuningSchema),
  },
  { additionalProperties: false, title: 'RestoreJobRequest' },
);
export type RestoreJobBody = Static<typeof RestoreJobBody>;

export const TrainJobBody = Type.Object(
  { type: Type.Literal('train'), ...TrainParamsSchema.properties },
  { additionalProperties: false, title: 'TrainJobRequest' },
);
export type TrainJobBody = Static<typeof TrainJobBody>;

/** Discriminated on `type` (ajv `discriminator`), so an unknown type is one clear error, UNKNOWN_JOB_TYPE. */
export const CreateJobBody = Type.Unsafe<RestoreJobBody | TrainJobBody>({
  type: 'object',
  oneOf: [RestoreJobBody, TrainJobBody],
  discriminator: { propertyName: 'type' },
  description: 'A restore job ({type:"restore"}) or a train job ({type:"train"}).',
});
export type CreateJobBody = RestoreJobBody | TrainJobBody;

export const JobStatusSchema = Type.Union([
  Type.Literal('queued'),
  Type.Literal('running'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
  Type.Literal('canceled'),
]);

export const JobTrustSchema = Type.Object(
  {
    ...RestoreTrustSchema.properties,
    report: Nullable(Type.String({ description: 'Path of the report (GET, JSON) when status is ok.' })),
    preview: Nullable(Type.String({ description: 'Path of the preview image (GET, PNG) when status is ok.' })),
  },
  {
    description:
      "How far to trust a restore job's result (metrics.trust): whether any frame is out of its model's calibrated range, which, and why. " +
      'null for train jobs, unfinished restores and restores from before trust reports.',
  },
);
export type JobTrustView = Static<typeof JobTrustSchema>;

export const JobSchema = Type.Object(
  {
    id: Uuid(),
    type: Type.Union([Type.Literal('restore'), Type.Literal('train')]),
    status: JobStatusSchema,
    progress: Type.Number({ minimum: 0, maximum: 1 }),
    inputStackId: Nullable(Uuid()),
    outputStackId: Nullable(Uuid('Restore: the result stack (set when succeeded).')),
    modelId: Nullable(Uuid('Restore: the model version used.')),
    trainedModelId: Nullable(Uuid('Train: the model version registered (set when succeeded).')),
    userId: Uuid('Who submitted it (a user of your group).'),
    options: JsonObject,
    metrics: Type.Object({}, {
      additionalProperties: true,
      description: 'Restore: tiles, megapixelsPerSecond, provider, batchSize, model {name, version, sha256}, inputSha256, outputSha256, timings. Train: model, validation, export, calibration ({frames, data} of the new model\'s trust calibration; null when nothing was held out; {status: unavailable, reason} when it failed), timings.',
    }),
    error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
    trust: Nullable(JobTrustSchema),
    cancelRequested: Type.Boolean(),
    attempts: Type.Integer(),
    workerHost: Nullable(Type.String()),
    idempotencyKey: Nullable(Type.String()),
    queuedAt: DateTimeString,
    startedAt: Nullable(DateTimeString),
    finishedAt: Nullable(DateTimeString),
    updatedAt: DateTimeString,
  },
  { $id: 'Job' },
);
export type JobView = Static<typeof JobSchema>;

const LooseObject = (description: string) => Type.Object({}, { additionalProperties: true, description });

/** report.json of a restore job (schema pssr-trust-report/1, as `pssr restore --report` writes it) plus its stacks. */
export const JobReportSchema = Type.Object(
  {
    jobId: Uuid(),
    stacks: Type.Object({
      consistency: Nullable(Uuid('float32 stack, frames x LR height x LR width: |LR - restoration mapped back onto the LR grid|, input intensity units (null once deleted).')),
      uncertainty: Nullable(Uuid('float32 stack at output size: per-pixel standard deviation of the 8 TTA orientations (options.tta only).')),
    }),
    preview: Type.String({ description: 'Path of the preview PNG.' }),
    schema: Type.String({ description: 'pssr-trust-report/1' }),
    createdAt: DateTimeString,
    model: LooseObject('name, version, sha256, modality, calibrated'),
    input: LooseObject('The input stack: name, frames, height, width, dtype, pixelSize.'),
    restored: LooseObject('The result stack: name, height, width.'),
    tta: Type.Boolean(),
    thresholds: Nullable(LooseObject("The flag thresholds from the card's calibration (null: uncalibrated card, no flags).")),
    pixelSize: LooseObject("The card's expected input pixel size against the stack's."),
    summary: LooseObject('flagged, frames, flaggedFrames, verdict, rse, rsp, uncertainty, warnings.'),
    frames: Type.Array(LooseObject('index, rse, rseToNoise, rsp, noise, localPeak, uncertainty, snr, flags [{kind, value, threshold, reason}], regions.')),
    units: Type.String(),
    limits: Type.String({ description: 'What the numbers cannot tell.' }),
  },
  { $id: 'JobReport', additionalProperties: true },
);
export type JobReportView = Static<typeof JobReportSchema>;

export const ListJobsQuery = Type.Object({
  status: Type.Optional(Type.Array(JobStatusSchema, { description: 'Repeat or comma-separate to match several.' })),
  type: Type.Optional(Type.Union([Type.Literal('restore'), Type.Literal('train')])),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 500 })),
});
export type ListJobsQuery = Static<typeof ListJobsQuery>;

export const JobPageSchema = Type.Object({ items: Type.Array(JobSchema), nextCursor: Nullable(Type.String()) });

export const PointsQuery = Type.Object({ name: Type.Optional(Type.String({ maxLength: 100 })) });
export const PointsSchema = Type.Object({
  items: Type.Array(Type.Object({ step: Type.Integer(), name: Type.String(), value: Type.Number(), at: DateTimeString })),
});

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Retrying with the same key returns the same job.' })),
});

// ---- models --------------------------------------------------------------------------------------------------

export const ModelVersionSchema = Type.Object({
  id: Uuid(),
  name: Type.String(),
  version: Type.String(),
  public: Type.Boolean({ description: 'true for bundled models; false for models your group trained.' }),
  sha256: Type.String(),
  createdAt: DateTimeString,
  card: JsonObject,
});

export const ModelSummarySchema = Type.Object({
  name: Type.String(),
  public: Type.Boolean(),
  latest: ModelVersionSchema,
  versions: Type.Array(Type.String()),
});

export const ModelListSchema = Type.Object({ items: Type.Array(ModelSummarySchema) });
export const ModelDetailSchema = Type.Object({ name: Type.String(), versions: Type.Array(ModelVersionSchema) });
export const ModelNameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) });

// ---- service -------------------------------------------------------------------------------------------------

export const HealthSchema = Type.Object({ status: Type.Literal('ok') });
export const ReadySchema = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  checks: Type.Object({ database: Type.String(), redis: Type.String() }),
});

/** Error responses every authenticated route may give. */
export const problemResponses = (...statuses: number[]): Record<number, TSchema> => {
  const out: Record<number, TSchema> = {};
  for (const s of [400, 401, 429, 500, 503, ...statuses]) out[s] = Type.Ref('Problem');
  return out;
};
