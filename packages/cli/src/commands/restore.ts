/** `pssr restore INPUT.tif -o OUTPUT.tif`: one stack, in-process, no servers. */
import { basename, resolve } from 'node:path';
import { PssrError } from '@pssr/core';
import type { FrameSink, FrameSource, StackInfo } from '@pssr/core';
import { RestoreEngine } from '@pssr/inference';
import type { Device, RestoreOptions, RestoreTiming } from '@pssr/inference';
import { resolveModel } from '@pssr/models';
import { TrustReportWriter } from '@pssr/report';
import type { TrustReport } from '@pssr/report';
import { createTiffStackWriter, inspectTiff, openTiffStack } from '@pssr/tiff';
import { formatSeconds } from '../output.js';
import { restoreProgress } from '../progress.js';
import { QualityMeter, formatQuality } from '../quality.js';
import type { QualityReport } from '../quality.js';
import { onInterrupt } from '../signals.js';
import { SOFTWARE } from '../version.js';

export interface RestoreArgs {
  input: string;
  output: string;
  model: string;
  device: Device;
  batch?: number;
  tile?: number;
  force: boolean;
  compression: 'none' | 'deflate';
  channel?: number;
  reference?: string;
  /** Test-time augmentation: mean of the 8 dihedral orientations; the report gets the uncertainty map. */
  tta?: boolean;
  /** Folder for the trust report (report.json, consistency.tif, uncertainty.tif with TTA, preview.png). */
  report?: string;
  /** Resample to the model's pixel size first when the input's is outside the card's range (else warn). */
  matchPixelSize?: boolean;
}

export interface RestoreResult {
  output: string;
  timing: RestoreTiming;
  quality?: QualityReport;
  report?: TrustReport;
}

export async function restoreCommand(args: RestoreArgs, print: (s: string) => void): Promise<RestoreResult> {
  const inputPath = resolve(args.input);
  const outputPath = resolve(args.output);
  if (inputPath === outputPath) throw new PssrError('INVALID_ARGUMENT', `The output ${args.output} is the input itself; choose another output path.`);
  if (args.reference !== undefined && resolve(args.reference) === outputPath) {
    throw new PssrError('INVALID_ARGUMENT', `The output ${args.output} is the reference image; choose another output path.`);
  }
  if (args.report !== undefined && args.matchPixelSize === true) {
    // the report compares output and input pixel for pixel; a resampled restore has no such pairing yet
    throw new PssrError('INVALID_ARGUMENT', '--report and --match-pixel-size cannot be used together yet; restore with one of them.');
  }
  const readOpts = args.channel === undefined ? {} : { channel: args.channel };
  const reader = await openTiffStack(inputPath, readOpts);
  let timing: RestoreTiming;
  let engine: RestoreEngine;
  let report: TrustReportWriter | null = null;
  // Listening from before the output file exists, so a Ctrl-C at any moment leaves no partial file.
  const interrupt = new AbortController();
  let output: FrameSink | null = null;
  const stopListening = onInterrupt(interrupt, async () => {
    await output?.abort();
  });
  try {
    // A bad reference or report folder is found before the restore runs, not after.
    if (args.reference !== undefined) checkReference(reader.info, await inspectTiff(resolve(args.reference), readOpts), args.reference);
    const model = await resolveModel(args.model);
    engine = await RestoreEngine.load(model, { device: args.device });
    const sink = await createTiffStackWriter(outputPath, engine.outputInfo(reader.info), {
      compression: args.compression,
      overwrite: args.force,
      software: SOFTWARE,
    });
    output = sink;
    if (args.report !== undefined) {
      report = await TrustReportWriter.create(args.report, {
        model,
        input: reader.info,
        tta: args.tta === true,
        inputName: basename(args.input),
        restoredName: basename(args.output),
        overwrite: args.force,
        software: SOFTWARE,
      }).catch(async (err: unknown) => {
        await sink.abort();
        throw err;
      });
    }
    const trust = report;
    timing = await runRestore(engine, reader, sink, { ...args, ...(trust ? { onFrame: (f) => trust.addFrame(f).then(() => undefined) } : {}) }, `restoring ${basename(args.input)}`, interrupt.signal);
  } catch (err) {
    await report?.abort();
    throw err;
  } finally {
    stopListening();
    await reader.close();
  }
  const { info } = reader;
  const out = engine.outputInfo(info);
  print(
    `restored ${args.input} -> ${args.output}: ${info.frames} frame${info.frames === 1 ? '' : 's'} ${info.width}x${info.height} -> ${out.width}x${out.height} ${info.dtype}, ` +
      `model ${engine.model.name} on ${timing.provider}${timing.tta ? ' with TTA (8 orientations)' : ''}, ${formatSeconds(timing.seconds)}, ${timing.megapixelsPerSecond.toFixed(2)} MP/s\n`,
  );
  const result: RestoreResult = { output: outputPath, timing };
  if (report) {
    result.report = await report.finish();
    print(`${result.report.summary.verdict}; report in ${args.report}\n`);
  }
  if (args.reference !== undefined) {
    result.quality = await compareWithReference(inputPath, outputPath, resolve(args.reference), readOpts);
    print(formatQuality(result.quality, engine.model.name, args.reference));
  }
  return result;
}

/**
 * Restores into a sink that is committed only when every frame is written; on any failure or Ctrl-C the
 * sink is aborted so no partial output remains. `signal`: the caller listens for Ctrl-C itself (from before
 * it created the sink); without it, this listens while it runs.
 */
export async function runRestore(
  engine: RestoreEngine,
  reader: FrameSource,
  sink: FrameSink,
  opts: { batch?: number; tile?: number; tta?: boolean; onFrame?: RestoreOptions['onFrame']; matchPixelSize?: boolean },
  label: string,
  signal?: AbortSignal,
): Promise<RestoreTiming> {
  const controller = new AbortController();
  const stopListening = signal ? () => undefined : onInterrupt(controller, () => sink.abort());
  const bar = restoreProgress(label);
  try {
    const timing = await engine.restore(reader, sink, {
      signal: signal ?? controller.signal,
      onProgress: (p) => bar.update(p),
      ...(opts.batch === undefined ? {} : { batchSize: opts.batch }),
      ...(opts.tile === undefined ? {} : { tileSize: opts.tile }),
      ...(opts.tta ? { tta: true } : {}),
      ...(opts.onFrame ? { onFrame: opts.onFrame } : {}),
      matchPixelSize: opts.matchPixelSize === true,
      onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
    });
    bar.stop();
    await sink.commit();
    return timing;
  } catch (err) {
    bar.stop();
    await sink.abort();
    throw err;
  } finally {
    stopListening();
  }
}

function checkReference(input: StackInfo, reference: StackInfo, path: string): void {
  const { frames, height: h, width: w } = input;
  if (reference.frames !== frames || Math.floor(reference.height / 4) !== h || Math.floor(reference.width / 4) !== w) {
    throw new PssrError(
      'INVALID_ARGUMENT',
      `The reference ${path} is ${reference.frames} frame(s) of ${reference.width}x${reference.height};\nit must have the input's ${frames} frame(s) and 4x its size (${4 * w}x${4 * h}, up to 3 px more).`,
    );
  }
}

async function compareWithReference(inputPath: string, outputPath: string, referencePath: string, readOpts: { channel?: number }): Promise<QualityReport> {
  const lr = await openTiffStack(inputPath, readOpts);
  const restored = await openTiffStack(outputPath);
  const hr = await openTiffStack(referencePath, readOpts);
  try {
    const { frames, height: h, width: w } = lr.info;
    checkReference(lr.info, hr.info, referencePath);
    const meter = new QualityMeter();
    for (let t = 0; t < frames; t++) {
      meter.add(await hr.readFrame(t), hr.info.width, await lr.readFrame(t), h, w, await restored.readFrame(t));
    }
    return meter.result();
  } finally {
    await Promise.all([lr.close(), restored.close(), hr.close()]);
  }
}
