/** HR stacks degraded on the fly (the card's recipe, seeded per frame), for calibration and evidence. */
import { degrade, toDType } from '@pssr/core';
import type { DegradationSpec, FrameArray, FrameSource, StackInfo } from '@pssr/core';
import { MemoryFrameSource } from '@pssr/inference';

/**
 * The LR stack an acquisition would give for `hr`: frame i is degraded with seed `seed + i` and rounded
 * to the HR dtype, as an acquired LR file would be. Frames are made once and kept (validation sets are small).
 */
export function degradedSource(hr: FrameSource, spec: DegradationSpec, seed: number): MemoryFrameSource {
  const { height: H, width: W, dtype } = hr.info;
  const info: StackInfo = { ...hr.info, height: Math.floor(H / 4), width: Math.floor(W / 4) };
  if (hr.info.pixelSize) info.pixelSize = { ...hr.info.pixelSize, x: hr.info.pixelSize.x * 4, y: hr.info.pixelSize.y * 4 };
  const made = new Map<number, Promise<FrameArray>>();
  return new MemoryFrameSource(info, (i) => {
    let frame = made.get(i);
    if (!frame) {
      frame = hr.readFrame(i).then((f) => toDType(degrade(f, H, W, spec, seed + i).data, dtype));
      made.set(i, frame);
    }
    return frame;
  });
}
