/**
 * `pssr evaluate --hr HR.tif --model NAME`: degrade HR frames the way the paper does (the card's recipe,
 * or --degrade em|fluo), restore them, and compare model, bicubic and bilinear with the original.
 */
import { basename, resolve } from 'node:path';
import { PssrError, degradationSpec, degrade, toDType } from '@pssr/core';
import type { FrameArray, StackInfo } from '@pssr/core';
import { MemoryFrameSink, MemoryFrameSource, RestoreEngine } from '@pssr/inference';
import type { Device, RestoreTiming } from '@pssr/inference';
import { resolveModel } from '@pssr/models';
import { openTiffStack } from '@pssr/tiff';
import { formatSeconds } from '../output.js';
import { QualityMeter, formatQuality } from '../quality.js';
import type { QualityReport } from '../quality.js';
import { runRestore } from './restore.js';

export interface EvaluateArgs {
  hr: string;
  model: string;
  degrade?: 'em' | 'fluo';
  seed: number;
  frames?: string;
  device: Device;
  batch?: number;
  tile?: number;
  channel?: number;
  json: boolean;
  /** As `pssr restore --match-pixel-size` (the LR pixel size is the HR file's x 4). */
  matchPixelSize?: boolean;
}

export interface EvaluateResult {
  model: string;
  hr: string;
  frames: [number, number];
  degradation: string;
  seed: number;
  matchPixelSize: boolean;
  quality: QualityReport;
  timing: RestoreTiming;
}

/** "a..b" or "a" (1-based, inclusive, as Fiji counts) -> 0-based [first, last]. */
export function parseFrameRange(text: string | undefined, n: number): [number, number] {
  if (text === undefined) return [0, n - 1];
  const m = /^\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?$/.exec(text);
  const a = m ? Number(m[1]) : NaN;
  const b = m ? Number(m[2] ?? m[1]) : NaN;
  if (!(a >= 1 && b >= a && b <= n)) {
    throw new PssrError('INVALID_ARGUMENT', `--frames ${JSON.stringify(text)} is not a range of this stack's frames: use a..b with 1 <= a <= b <= ${n} (1-based, inclusive).`);
  }
  return [a - 1, b - 1];
}

export async function evaluateCommand(args: EvaluateArgs, print: (s: string) => void): Promise<EvaluateResult> {
  const hrPath = resolve(args.hr);
  const hr = await openTiffStack(hrPath, args.channel === undefined ? {} : { channel: args.channel });
  try {
    const { height: H, width: W, dtype } = hr.info;
    if (H < 4 || W < 4) throw new PssrError('INVALID_ARGUMENT', `${args.hr} is ${W}x${H}; evaluation needs at least 4x4 pixels (4x downsampling).`);
    const [first, last] = parseFrameRange(args.frames, hr.info.frames);
    const model = await resolveModel(args.model);
    const spec = args.degrade ? degradationSpec(args.degrade) : model.card.degradation;
    const engine = await RestoreEngine.load(model, { device: args.device });
    const h = Math.floor(H / 4);
    const w = Math.floor(W / 4);
    const lrInfo: StackInfo = { frames: last - first + 1, height: h, width: w, dtype, axis: hr.info.axis };
    if (hr.info.pixelSize) lrInfo.pixelSize = { ...hr.info.pixelSize, x: hr.info.pixelSize.x * 4, y: hr.info.pixelSize.y * 4 };

    // LR frames are made on demand (fresh noise per frame, seeded) and kept until their metrics are done;
    // they are rounded to the HR dtype, as an acquired LR file would be.
    const lrFrames = new Map<number, FrameArray>();
    const source = new MemoryFrameSource(lrInfo, async (i) => {
      const degraded = degrade(await hr.readFrame(first + i), H, W, spec, args.seed + first + i);
      const lr = toDType(degraded.data, dtype);
      lrFrames.set(i, lr);
      return lr;
    });
    const meter = new QualityMeter(true);
    const sink = new MemoryFrameSink(engine.outputInfo(lrInfo), async (restored, i) => {
      meter.add(await hr.readFrame(first + i), W, lrFrames.get(i)!, h, w, restored);
      lrFrames.delete(i);
    });
    const timing = await runRestore(engine, source, sink, args, `evaluating ${basename(args.hr)}`);
    const result: EvaluateResult = {
      model: model.name,
      hr: args.hr,
      frames: [first + 1, last + 1],
      degradation: spec.recipe,
      seed: args.seed,
      matchPixelSize: args.matchPixelSize === true,
      quality: meter.result(),
      timing,
    };
    if (args.json) {
      print(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      print(
        `evaluated ${model.name} on ${args.hr} frames ${first + 1}..${last + 1}: degradation ${spec.recipe} (seed ${args.seed}), ` +
          `${w}x${h} -> ${4 * w}x${4 * h}, ${timing.provider}, ${formatSeconds(timing.seconds)}\n`,
      );
      print(formatQuality(result.quality, model.name, args.hr));
    }
    return result;
  } finally {
    await hr.close();
  }
}
