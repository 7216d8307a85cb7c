/** A progress bar on a terminal (stderr), nothing otherwise: scripts and logs get one summary line. */
import cliProgress from 'cli-progress';
import type { RestoreProgress } from '@pssr/inference';
import { formatSeconds } from './output.js';

export interface ProgressView {
  update(p: RestoreProgress): void;
  stop(): void;
}

export function restoreProgress(label: string, enabled = process.stderr.isTTY === true): ProgressView {
  if (!enabled) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar({
    format: `${label} |{bar}| {value}/{total} tiles | frame {frames} | {mps} MP/s | ETA {remaining}`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    barsize: 24,
    fps: 5,
  });
  let started = false;
  return {
    update(p) {
      const payload = { frames: `${p.framesDone}/${p.framesTotal}`, mps: p.megapixelsPerSecond.toFixed(2), remaining: p.etaSeconds === null ? '?' : formatSeconds(p.etaSeconds) };
      if (!started) {
        bar.start(p.tilesTotal, p.tilesDone, payload);
        started = true;
      } else {
        bar.update(p.tilesDone, payload);
      }
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
