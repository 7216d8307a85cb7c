/** `pssr models [--json]`: the bundled models and their cards. */
import { listBundledModels, resolveModel } from '@pssr/models';
import type { ModelBundle } from '@pssr/models';

export async function modelsCommand(opts: { json: boolean; model?: string[] }, print: (s: string) => void): Promise<ModelBundle[]> {
  const bundles = opts.model && opts.model.length > 0 ? await Promise.all(opts.model.map((m) => resolveModel(m))) : await listBundledModels();
  if (opts.json) {
    print(`${JSON.stringify(bundles.map((b) => ({ name: b.name, dir: b.dir, onnx: b.onnxPath, card: b.card })), null, 2)}\n`);
    return bundles;
  }
  if (bundles.length === 0) {
    print('no bundled models installed (packages/models/<name>/model.onnx + model.json)\n');
    return bundles;
  }
  for (const { name, card } of bundles) {
    const v = card.validation;
    const quality = v
      ? `validation PSNR ${v.psnr.model.toFixed(2)} dB (bicubic ${v.psnr.bicubic.toFixed(2)}, bilinear ${v.psnr.bilinear.toFixed(2)}), SSIM ${v.ssim.model.toFixed(3)} (bicubic ${v.ssim.bicubic.toFixed(3)})`
      : 'no validation metrics';
    const px = card.inputPixelSize ? `, input pixel ${card.inputPixelSize.value} ${card.inputPixelSize.unit}` : '';
    print(
      `${name}  v${card.version}  ${card.modality}, ${card.inputFrames} frame${card.inputFrames === 1 ? '' : 's'} in, 4x${px}\n` +
        `    ${card.architecture.name} network, tile ${card.tile.size} (halo ${card.tile.halo}), ${card.normalization.mode} normalisation, degradation ${card.degradation.recipe}\n` +
        `    ${quality}\n` +
        `    trained ${card.training.steps} steps / ${Math.round(card.training.seconds)} s on ${card.training.device}; data: ${card.training.data.join(', ') || 'n/a'}; licence: ${card.training.licence || 'n/a'}\n`,
    );
  }
  return bundles;
}
