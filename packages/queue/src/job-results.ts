/**
 * What a finished restore job records about how far to trust its result (issue 8), typed once: the worker
 * writes it as the job's `metrics.trust`, the API's job view reads it back with `parseRestoreTrust`, and the
 * Prometheus counters of @pssr/db aggregate its `status`, `frames` and `flaggedFrames` (one source of truth).
 */
import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const RestoreTrustSchema = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')], {
      description: 'ok: the report was computed and stored; unavailable: it could not be (see reason), the restoration itself succeeded.',
    }),
    tta: Type.Boolean({ description: 'Whether the restore ran with test-time augmentation (the report then has the uncertainty map).' }),
    flagged: Nullable(Type.Boolean({ description: "true when any frame is out of its model's calibrated range; null when unavailable." })),
    frames: Type.Integer({ minimum: 0, description: 'Frames checked (0 when unavailable).' }),
    flaggedFrames: Type.Array(Type.Integer({ minimum: 0 }), { description: 'Indices (0-based) of the flagged frames.' }),
    verdict: Nullable(Type.String({ description: 'The one-line verdict, as `pssr restore --report` prints it.' })),
    warnings: Type.Array(Type.String(), { description: 'Stack-level concerns: pixel size unlike the model\'s, an uncalibrated model card.' }),
    rse: Nullable(Type.Object({ median: Type.Number(), max: Type.Number() }, { description: 'Consistency residual RMS over frames, normalised units.' })),
    rsp: Nullable(Type.Object({ median: Type.Number(), min: Type.Number() }, { description: 'Pearson correlation of LR and restoration mapped back, over frames.' })),
    uncertainty: Nullable(Type.Object({ median: Type.Number(), max: Type.Number() }, { description: 'Mean TTA standard deviation per frame, normalised units (TTA only).' })),
    reason: Nullable(Type.String({ description: 'Why the report is unavailable (null when ok).' })),
  },
  { additionalProperties: false },
);
export type RestoreTrust = Static<typeof RestoreTrustSchema>;

/** A job's `metrics.trust` when it is one (older jobs and train jobs have none): null otherwise. */
export function parseRestoreTrust(value: unknown): RestoreTrust | null {
  return Value.Check(RestoreTrustSchema, value) ? value : null;
}
