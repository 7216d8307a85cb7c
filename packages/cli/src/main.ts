/**
 * The `pssr` command line. Subcommands load their heavy dependencies (onnxruntime, the trainer client)
 * only when they run. Exit status: 0 ok, 1 internal error, 2 user error (bad file, argument or model),
 * 130 canceled (Ctrl-C). A user error prints at most three lines and never a stack trace.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { EXIT_OK, reportError } from './output.js';
import { VERSION } from './version.js';
import { loadCliConfig, type CliConfig } from '@pssr/config';
import { registerAdminCommands } from './commands/admin.js';

type Print = (s: string) => void;

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer.`);
    return n;
  };
}

function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} must be a non-negative integer.`);
    return n;
  };
}

function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number.`);
    return n;
  };
}

function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n > 0 && n < 1)) throw new InvalidArgumentError('the validation fraction must be between 0 and 1.');
  return n;
}

function unitInterval(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError(`${name} must be a number from 0 to 1.`);
    return n;
  };
}

function nonNegativeNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !(n >= 0 && Number.isFinite(n))) throw new InvalidArgumentError(`${name} must be a number of at least 0.`);
    return n;
  };
}

/** "lo,hi" with min <= lo <= hi. */
function numberPair(name: string, min: number) {
  return (value: string): [number, number] => {
    const parts = value.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
    const [lo, hi] = parts;
    if (parts.length !== 2 || !(lo! >= min && hi! >= lo! && Number.isFinite(hi))) {
      throw new InvalidArgumentError(`${name} must be two numbers lo,hi with ${min} <= lo <= hi (got "${value}").`);
    }
    return [lo!, hi!];
  };
}

function emaDecay(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n < 1)) throw new InvalidArgumentError('the weight-averaging decay must be 0 (off) or between 0 and 1, e.g. 0.999.');
  return n;
}

const deviceOption = () => new Option('--device <device>', 'where onnxruntime runs: CUDA when available (auto), or cpu / cuda').choices(['auto', 'cpu', 'cuda']).default('auto');

/** What restore and evaluate share: how the engine tiles and batches, which channel, pixel-size matching. */
function engineOptions(o: Record<string, unknown>) {
  return {
    ...(o.batch === undefined ? {} : { batch: o.batch as number }),
    ...(o.tile === undefined ? {} : { tile: o.tile as number }),
    ...(o.channel === undefined ? {} : { channel: o.channel as number }),
    ...(o.matchPixelSize === true ? { matchPixelSize: true } : {}),
  };
}

export function buildProgram(print: Print, config: CliConfig = loadCliConfig()): Command {
  const program = new Command('pssr')
    .description('PSSR: point-scanning super-resolution (Fang et al.): restore 4x undersampled microscopy stacks')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });

  program
    .command('restore')
    .description('restore a TIFF stack 4x per axis with a model (frames stay frames; dtype is kept)')
    .argument('<input>', 'LR TIFF (2D image or stack; 8/16-bit unsigned or 32-bit float)')
    .requiredOption('-o, --output <file>', 'output TIFF (written to a temporary name, renamed when complete)')
    .option('-m, --model <name|dir>', 'bundled model name or a folder with model.onnx + model.json', 'em')
    .addOption(deviceOption())
    .option('--batch <n>', 'tiles per onnxruntime run (default: from the device and tile size)', positiveInt('--batch'))
    .option('--tile <n>', "LR tile edge including the halo (default: the card's on CUDA, at least 512 on CPU)", positiveInt('--tile'))
    .option('-f, --force', 'overwrite an existing output', false)
    .addOption(new Option('--compression <kind>', 'output compression').choices(['none', 'deflate']).default('none'))
    .option('--channel <n>', 'channel to restore from a multi-channel (e.g. RGB) file, 0-based', nonNegativeInt('--channel'))
    .option('--reference <hr.tif>', 'HR reference: also print PSNR/SSIM of the restoration, bicubic and bilinear')
    .option('--tta', 'test-time augmentation: average the 8 rotations/flips (8x the time); the report gets an uncertainty map', false)
    .option('--report <dir>', 'write a trust report: report.json, consistency.tif, uncertainty.tif (with --tta), preview.png')
    .option('--match-pixel-size', "when the input's pixel size is outside the model's range, resample to the model's first and the output back (default: warn only)")
    .action(async (input: string, o: Record<string, unknown>) => {
      const { restoreCommand } = await import('./commands/restore.js');
      await restoreCommand(
        {
          input,
          output: o.output as string,
          model: o.model as string,
          device: o.device as 'auto',
          force: o.force === true,
          compression: o.compression as 'none',
          ...engineOptions(o),
          ...(o.reference === undefined ? {} : { reference: o.reference as string }),
          ...(o.tta === true ? { tta: true } : {}),
          ...(o.report === undefined ? {} : { report: o.report as string }),
        },
        print,
      );
    });

  program
    .command('check')
    .description("check a 4x restoration (ours or another tool's) against its LR input, without ground truth; writes a trust report")
    .requiredOption('--input <lr.tif>', 'the measured LR TIFF')
    .requiredOption('--restored <out.tif>', 'its 4x restoration (same frames, 4x height and width)')
    .option('-m, --model <name|dir>', "model whose card gives the normalisation and the calibration the flags use", 'em')
    .requiredOption('--report <dir>', 'report folder (new or empty; --force replaces an older report)')
    .option('-f, --force', 'replace the report files in a non-empty folder', false)
    .option('--channel <n>', 'channel of a multi-channel input, 0-based', nonNegativeInt('--channel'))
    .action(async (o: Record<string, unknown>) => {
      const { checkCommand } = await import('./commands/check.js');
      await checkCommand(
        {
          input: o.input as string,
          restored: o.restored as string,
          model: o.model as string,
          report: o.report as string,
          force: o.force === true,
          ...(o.channel === undefined ? {} : { channel: o.channel as number }),
        },
        print,
      );
    });

  program
    .command('calibrate')
    .description("measure a model's trust statistics on its held-out validation data and record them in its card")
    .option('-m, --model <name|dir...>', 'bundled model names or model folders (default: every bundled model)')
    .option('--config <file>', "the model's training config (default: the one its card's training command names, or DIR/train-config.json)")
    .option('--no-tta', 'skip test-time augmentation (no uncertainty calibration; 8x faster)')
    .addOption(deviceOption())
    .action(async (o: Record<string, unknown>) => {
      const { calibrateCommand } = await import('./commands/calibrate.js');
      await calibrateCommand(
        {
          models: (o.model as string[] | undefined) ?? [],
          tta: o.tta !== false,
          device: o.device as 'auto',
          ...(o.config === undefined ? {} : { config: o.config as string }),
          ...(config.python === undefined ? {} : { python: config.python }),
        },
        print,
      );
    });

  program
    .command('models')
    .description('list the bundled models and their cards')
    .option('--json', 'print the cards as JSON', false)
    .option('-m, --model <name|dir...>', 'show these models (bundled names or folders) instead of the bundled list')
    .action(async (o: { json: boolean; model?: string[] }) => {
      const { modelsCommand } = await import('./commands/models.js');
      await modelsCommand(o.model ? { json: o.json, model: o.model } : { json: o.json }, print);
    });

  program
    .command('evaluate')
    .description('degrade HR frames as the paper does, restore them, print PSNR/SSIM/FRC of model, bicubic and bilinear')
    .requiredOption('--hr <file>', 'HR TIFF stack (the ground truth)')
    .option('-m, --model <name|dir>', 'bundled model name or model folder', 'em')
    .addOption(new Option('--degrade <recipe>', "degradation (default: the model card's)").choices(['em', 'fluo']))
    .option('--seed <n>', 'noise seed (frame k uses seed + k)', nonNegativeInt('--seed'), 0)
    .option('--frames <a..b>', 'frames to evaluate, 1-based inclusive (default: all)')
    .addOption(deviceOption())
    .option('--batch <n>', 'tiles per onnxruntime run', positiveInt('--batch'))
    .option('--tile <n>', 'LR tile edge including the halo', positiveInt('--tile'))
    .option('--channel <n>', 'channel of a multi-channel file, 0-based', nonNegativeInt('--channel'))
    .option('--json', 'print the result as JSON', false)
    .option('--match-pixel-size', 'as restore --match-pixel-size (the LR pixel size is the HR file\'s x 4)')
    .action(async (o: Record<string, unknown>) => {
      const { evaluateCommand } = await import('./commands/evaluate.js');
      await evaluateCommand(
        {
          hr: o.hr as string,
          model: o.model as string,
          seed: o.seed as number,
          device: o.device as 'auto',
          json: o.json === true,
          ...(o.degrade === undefined ? {} : { degrade: o.degrade as 'em' }),
          ...(o.frames === undefined ? {} : { frames: o.frames as string }),
          ...engineOptions(o),
        },
        print,
      );
    });

  program
    .command('train')
    .description('train a model from HR images only; writes DIR/model.onnx + DIR/model.json')
    .requiredOption('--data <paths...>', 'HR TIFF files or folders of them')
    .addOption(new Option('--modality <modality>', 'em or fluo (picks the degradation)').choices(['em', 'fluo']).makeOptionMandatory())
    .addOption(new Option('--frames <n>', 'input frames: 1, or 5 (t-2..t+2)').choices(['1', '5']).default('1'))
    .requiredOption('--out <dir>', 'output model folder')
    .addOption(new Option('--minutes <n>', 'time budget').argParser(positiveNumber('--minutes')).conflicts('steps'))
    .option('--steps <n>', 'step budget', positiveInt('--steps'))
    .addOption(new Option('--device <device>', 'training device').choices(['auto', 'cpu', 'cuda']).default('auto'))
    .addOption(new Option('--arch <arch>', 'fast (input resolution, PixelShuffle x4) or pssr (the published U-Net)').choices(['fast', 'pssr']))
    .option('--val-fraction <f>', 'fraction of the data kept for validation', fraction)
    .option('--init <name|dir>', 'fine-tune from this model')
    .option('--seed <n>', 'random seed', nonNegativeInt('--seed'))
    .option('--name <name>', 'model name in the card')
    .option('--width <n>', 'fast network: feature channels', positiveInt('--width'))
    .option('--depth <n>', 'fast network: residual blocks', positiveInt('--depth'))
    .option('--phase-jitter', 'train on tiles at any of the 16 phases of the 4x sampling grid (more distinct pairs from few images)')
    .option('--ema <decay>', 'keep and export an exponential moving average of the weights (e.g. 0.999)', emaDecay)
    .option('--scale-range <lo,hi>', 'scale augmentation: HR resampled to lo..hi x its pixel size before degradation (lo >= 1), e.g. 1,2', numberPair('--scale-range', 1))
    .option('--scale-prob <p>', 'fraction of tiles the scale augmentation applies to (default 1)', unitInterval('--scale-prob'))
    .option('--noise-sigma <lo,hi>', "Gaussian noise sigma (0-255 scale) drawn per tile, e.g. 2,4 around the paper's 3", numberPair('--noise-sigma', 0))
    .option('--contrast-jitter <c>', 'tile contrast x exp(+-c) and level +-c/2 of the range, e.g. 0.2', unitInterval('--contrast-jitter'))
    .option('--gamma-jitter <g>', 'gamma exp(+-g) on the percentile scale (default 0.3 for fluo, 0 for em)', nonNegativeNumber('--gamma-jitter'))
    .action(async (o: Record<string, unknown>) => {
      const { trainCommand } = await import('./commands/train.js');
      await trainCommand(
        {
          data: o.data as string[],
          modality: o.modality as 'em',
          frames: Number(o.frames) as 1 | 5,
          out: o.out as string,
          device: o.device as 'auto',
          ...(o.minutes === undefined ? {} : { minutes: o.minutes as number }),
          ...(o.steps === undefined ? {} : { steps: o.steps as number }),
          ...(o.arch === undefined ? {} : { arch: o.arch as 'fast' }),
          ...(o.valFraction === undefined ? {} : { valFraction: o.valFraction as number }),
          ...(o.init === undefined ? {} : { init: o.init as string }),
          ...(o.seed === undefined ? {} : { seed: o.seed as number }),
          ...(o.name === undefined ? {} : { name: o.name as string }),
          ...(o.width === undefined ? {} : { width: o.width as number }),
          ...(o.depth === undefined ? {} : { depth: o.depth as number }),
          ...(o.ema === undefined ? {} : { ema: o.ema as number }),
          ...(o.phaseJitter === true ? { phaseJitter: true } : {}),
          ...(o.scaleRange === undefined ? {} : { scaleRange: o.scaleRange as [number, number] }),
          ...(o.scaleProb === undefined ? {} : { scaleProb: o.scaleProb as number }),
          ...(o.noiseSigma === undefined ? {} : { noiseSigma: o.noiseSigma as [number, number] }),
          ...(o.contrastJitter === undefined ? {} : { contrastJitter: o.contrastJitter as number }),
          ...(o.gammaJitter === undefined ? {} : { gammaJitter: o.gammaJitter as number }),
          command: ['pssr', ...process.argv.slice(2)].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' '),
        },
        print,
        config.python,
      );
    });

  // Service administration (API keys in Postgres). @pssr/db is loaded only when an admin command runs, so
  // restoring on a laptop needs neither Postgres nor the generated Prisma client.
  registerAdminCommands(program, { out: (l) => print(`${l}\n`), databaseUrl: config.databaseUrl });

  return program;
}

/** Runs the command line (without node and script) and sets the exit status. */
export async function run(argv: string[]): Promise<void> {
  const config = loadCliConfig();
  // `pssr models | head` closes stdout early: not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  const program = buildProgram((s) => process.stdout.write(s), config);
  try {
    await program.parseAsync(argv, { from: 'user' });
    process.exitCode = EXIT_OK;
  } catch (err) {
    process.exitCode = reportError(err, config.debug);
  }
}
