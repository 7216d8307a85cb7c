/** In-memory stacks: for `pssr evaluate` (degraded frames made on the fly), tests and benchmarks. */
import { PssrError } from '@pssr/core';
import type { FrameArray, FrameSink, FrameSource, StackInfo } from '@pssr/core';

/** A stack whose frames come from a function (computed or held in memory). */
export class MemoryFrameSource implements FrameSource {
  constructor(
    readonly info: StackInfo,
    private readonly frame: (index: number) => FrameArray | Promise<FrameArray>,
  ) {}

  static fromFrames(info: Omit<StackInfo, 'frames'>, frames: FrameArray[]): MemoryFrameSource {
    return new MemoryFrameSource({ ...info, frames: frames.length } as StackInfo, (i) => frames[i]!);
  }

  async readFrame(index: number): Promise<FrameArray> {
    if (!(Number.isInteger(index) && index >= 0 && index < this.info.frames)) {
      throw new PssrError('INVALID_ARGUMENT', `Frame ${index} is outside the stack (0..${this.info.frames - 1}).`, false);
    }
    return this.frame(index);
  }

  async close(): Promise<void> {}
}

/** A sink that hands each frame to a callback (or keeps them all when none is given). */
export class MemoryFrameSink implements FrameSink {
  readonly frames: FrameArray[] = [];
  committed = false;
  aborted = false;

  constructor(
    readonly info: StackInfo,
    private readonly onFrame?: (frame: FrameArray, index: number) => void | Promise<void>,
  ) {}

  private written = 0;

  async writeFrame(data: FrameArray): Promise<void> {
    if (data.length !== this.info.width * this.info.height) {
      throw new PssrError('INTERNAL', `Frame of ${data.length} samples written to a ${this.info.width}x${this.info.height} stack.`, false);
    }
    const index = this.written++;
    if (this.onFrame) await this.onFrame(data, index);
    else this.frames.push(data);
  }

  async commit(): Promise<void> {
    if (this.written !== this.info.frames) {
      throw new PssrError('INTERNAL', `${this.written} of ${this.info.frames} frames were written before commit.`, false);
    }
    this.committed = true;
  }

  async abort(): Promise<void> {
    this.aborted = true;
    this.frames.length = 0;
  }
}
