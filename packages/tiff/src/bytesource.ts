import { open, type FileHandle } from 'node:fs/promises';

const BLOCK = 64 * 1024;
const MAX_CACHED_BLOCKS = 16;

/**
 * Random-access reads from a file with a small block cache: walking thousands of IFDs (often packed
 * together, as ImageJ writes them) costs a few syscalls instead of several per page. Memory is bounded
 * by MAX_CACHED_BLOCKS x BLOCK whatever the file size.
 */
export class ByteSource {
  private readonly blocks = new Map<number, Buffer>();

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  /** Opens the file; errors from fs (ENOENT, EISDIR, EACCES) propagate to the caller to map. */
  static async open(path: string): Promise<ByteSource> {
    const handle = await open(path, 'r');
    try {
      const stat = await handle.stat();
      if (stat.isDirectory()) throw Object.assign(new Error(`EISDIR: ${path}`), { code: 'EISDIR' });
      return new ByteSource(path, handle, stat.size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Exactly `length` bytes at `offset`; the caller has checked that the range lies inside the file. */
  async read(offset: number, length: number): Promise<Buffer> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`read of ${length} bytes at ${offset} past the end of ${this.path} (${this.size} bytes)`);
    }
    if (length === 0) return Buffer.alloc(0);
    const first = Math.floor(offset / BLOCK);
    const last = Math.floor((offset + length - 1) / BLOCK);
    if (last - first >= 4) return this.readDirect(offset, length);
    if (first === last) {
      const block = await this.block(first);
      const start = offset - first * BLOCK;
      return block.subarray(start, start + length);
    }
    const out = Buffer.allocUnsafe(length);
    let written = 0;
    for (let b = first; b <= last; b++) {
      const block = await this.block(b);
      const start = Math.max(offset, b * BLOCK) - b * BLOCK;
      const end = Math.min(offset + length, (b + 1) * BLOCK) - b * BLOCK;
      block.copy(out, written, start, end);
      written += end - start;
    }
    return out;
  }

  /** Reads straight into a fresh buffer, bypassing the cache (pixel data, large tag arrays). */
  async readDirect(offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const out = into ?? Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(out, done, length - done, offset + done);
      if (bytesRead === 0) throw new RangeError(`unexpected end of ${this.path} at byte ${offset + done}`);
      done += bytesRead;
    }
    return out;
  }

  private async block(index: number): Promise<Buffer> {
    const cached = this.blocks.get(index);
    if (cached) {
      // Refresh LRU position.
      this.blocks.delete(index);
      this.blocks.set(index, cached);
      return cached;
    }
    const start = index * BLOCK;
    const length = Math.min(BLOCK, this.size - start);
    const data = await this.readDirect(start, length);
    this.blocks.set(index, data);
    if (this.blocks.size > MAX_CACHED_BLOCKS) {
      const oldest = this.blocks.keys().next().value;
      if (oldest !== undefined) this.blocks.delete(oldest);
    }
    return data;
  }

  async close(): Promise<void> {
    this.blocks.clear();
    await this.handle.close();
  }
}
