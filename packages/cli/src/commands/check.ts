/**
 * `pssr check --input LR.tif --restored OUT.tif --model NAME --report DIR`: the trust report of any 4x
 * restoration (ours or another tool's) against its measured input, without ground truth. Mismatched inputs
 * (not 4x, another frame count) are refused before anything is written.
 */
import { basename, resolve } from 'node:path';
import { PssrError } from '@pssr/core';
import type { StackInfo } from '@pssr/core';
import { resolveModel } from '@pssr/models';
import { TrustReportWriter } from '@pssr/report';
import type { TrustReport } from '@pssr/report';
import { openTiffStack } from '@pssr/tiff';
import { SOFTWARE } from '../version.js';

export interface CheckArgs {
  input: string;
  restored: string;
  model: string;
  report: string;
  force: boolean;
  channel?: number;
}

export async function checkCommand(args: CheckArgs, print: (s: string) => void): Promise<TrustReport> {
  const lr = await openTiffStack(resolve(args.input), args.channel === undefined ? {} : { channel: args.channel });
  try {
    const restored = await openTiffStack(resolve(args.restored));
    try {
      checkPair(lr.info, restored.info, args);
      const model = await resolveModel(args.model);
      const writer = await TrustReportWriter.create(args.report, {
        model,
        input: lr.info,
        tta: false,
        inputName: basename(args.input),
        restoredName: basename(args.restored),
        overwrite: args.force,
        software: SOFTWARE,
      });
      try {
        for (let t = 0; t < lr.info.frames; t++) {
          await writer.addFrame({ index: t, input: await lr.readFrame(t), output: await restored.readFrame(t), uncertainty: null });
        }
      } catch (err) {
        await writer.abort();
        throw err;
      }
      const report = await writer.finish();
      print(`${report.summary.verdict}; report in ${args.report}\n`);
      return report;
    } finally {
      await restored.close();
    }
  } finally {
    await lr.close();
  }
}

function checkPair(lr: StackInfo, restored: StackInfo, args: CheckArgs): void {
  if (restored.frames !== lr.frames) {
    throw new PssrError('INVALID_ARGUMENT', `${args.restored} has ${restored.frames} frame(s) but ${args.input} has ${lr.frames}; a restoration has one output frame per input frame.`);
  }
  if (restored.height !== 4 * lr.height || restored.width !== 4 * lr.width) {
    throw new PssrError(
      'INVALID_ARGUMENT',
      `${args.restored} is ${restored.width}x${restored.height}; a 4x restoration of ${args.input} (${lr.width}x${lr.height}) must be exactly ${4 * lr.width}x${4 * lr.height}.`,
    );
  }
}
