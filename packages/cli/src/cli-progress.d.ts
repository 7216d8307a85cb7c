// Minimal typings for cli-progress 3.12 (the package ships none): the parts the CLI uses.
declare module 'cli-progress' {
  interface Options {
    format?: string;
    stream?: NodeJS.WritableStream;
    hideCursor?: boolean;
    clearOnComplete?: boolean;
    stopOnComplete?: boolean;
    barsize?: number;
    etaBuffer?: number;
    fps?: number;
    noTTYOutput?: boolean;
  }
  export class SingleBar {
    constructor(options: Options, preset?: unknown);
    start(total: number, startValue: number, payload?: Record<string, unknown>): void;
    update(value: number, payload?: Record<string, unknown>): void;
    setTotal(total: number): void;
    stop(): void;
  }
  export const Presets: { shades_classic: unknown; legacy: unknown; rect: unknown };
  const cliProgress: { SingleBar: typeof SingleBar; Presets: typeof Presets };
  export default cliProgress;
}
