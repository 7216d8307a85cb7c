/**
 * What a job was asked to do, typed once (TypeBox): the API's request schemas are built from these, the API
 * stores them as the job's `options` in Postgres, and the worker reads them back with `parseRestoreOptions` / `parseTrainOptions`,
 * which checks them against the same schema (no casts). Numbers are numbers: the API validates bodies
 * without type coercion, so "80", [80] or true are refused, not turned into 80.
 */
// `typebox` (1.x) is the TypeBox the API's Fastify type provider uses, so the API's route schemas embed
// these schemas as they are.
import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { PssrError } from '@pssr/core';
import type { JobName } from './types.js';

export const ModelRefSchema = Type.String({
  minLength: 1,
  maxLength: 200,
  description: 'A model name (your group\'s latest version, else the public one), name@version, or a model id.',
});

/** Tuning of a restore (`options` of a restore request). */
export const RestoreTuningSchema = Type.Object(
  {
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 256, description: 'Tiles per inference batch (default: the engine picks).' })),
    tileSize: Type.Optional(
      Type.Integer({
        minimum: 16,
        maximum: 4096,
        description: "LR tile edge incl. halo (default: the model card's); a multiple of the card's tile.multiple, at least its minimum tile size (GET /v1/models).",
      }),
    ),
    matchPixelSize: Type.Optional(
      Type.Boolean({
        description:
          "When the stack's pixel size is outside what the model was trained for (card inputPixelSizeRange or inputPixelSize): resample the input to the model's pixel size first and the output back, so the output is still 4x the input. Default false: the job log warns only.",
      }),
    ),
    channel: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 1023, description: "Which channel of a multi-channel stack (RGB samples or channel pages) to restore, from 0; required for such stacks (the stack's `channels`)." }),
    ),
    tta: Type.Optional(
      Type.Boolean({
        description:
          'Test-time augmentation: restore every tile in the 8 rotations and flips and output their mean (about 8x the inference time); ' +
          'the trust report then also has the uncertainty map (their per-pixel standard deviation). Default false.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type RestoreTuning = Static<typeof RestoreTuningSchema>;

/** A train request's parameters (all of the request but its `type`). */
export const TrainParamsSchema = Type.Object(
  {
    stackIds: Type.Array(Type.String({ format: 'uuid' }), { minItems: 1, maxItems: 64, uniqueItems: true, description: 'High-resolution stacks to train on.' }),
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$', description: 'Name to register the trained model under (lower case).' }),
    modality: Type.Union([Type.Literal('em'), Type.Literal('fluo')]),
    frames: Type.Optional(Type.Union([Type.Literal(1), Type.Literal(5)])),
    steps: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
    minutes: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 7 * 24 * 60 })),
    arch: Type.Optional(Type.Union([Type.Literal('fast'), Type.Literal('pssr')])),
    init: Type.Optional(ModelRefSchema),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })),
    valFraction: Type.Optional(Type.Number({ minimum: 0, maximum: 0.5 })),
  },
  { additionalProperties: false },
);
export type TrainParams = Static<typeof TrainParamsSchema>;

/**
 * Hash of the request, to tell an honest retry (same Idempotency-Key, same request) from a reused key. The
 * API always records it (and the model reference as asked); jobs created by other means may not.
 */
const RequestHash = Type.Optional(Type.String({ minLength: 1, maxLength: 64 }));

/** Stored `options` of a restore job. */
export const RestoreJobOptionsSchema = Type.Object(
  {
    model: Type.Optional(ModelRefSchema),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    requestHash: RequestHash,
    ...RestoreTuningSchema.properties,
  },
  { additionalProperties: false },
);
export type RestoreJobOptions = Static<typeof RestoreJobOptionsSchema>;

/** Stored `options` of a train job. */
export const TrainJobOptionsSchema = Type.Object({ ...TrainParamsSchema.properties, requestHash: RequestHash }, { additionalProperties: false });
export type TrainJobOptions = Static<typeof TrainJobOptionsSchema>;

function checked<T extends TSchema>(schema: T, value: unknown, what: JobName): Static<T> {
  if (Value.Check(schema, value)) return value;
  const first = [...Value.Errors(schema, value)][0];
  // A record written by another version, or by hand: the job cannot run, retrying will not help.
  throw new PssrError('INVALID_ARGUMENT', `The ${what} job's options are not valid${first ? ` at ${first.instancePath || '/'}: ${first.message}` : ''}.`);
}

/** The stored options of a restore job, checked against their schema. */
export function parseRestoreOptions(options: unknown): RestoreJobOptions {
  return checked(RestoreJobOptionsSchema, options, 'restore');
}

/** The stored options of a train job, checked against their schema. */
export function parseTrainOptions(options: unknown): TrainJobOptions {
  return checked(TrainJobOptionsSchema, options, 'train');
}
