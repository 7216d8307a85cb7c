/**
 * Where the real images of ../shared/datasets are (licences in its README): beside this checkout, as the
 * README and the model cards name it, or, for a checkout elsewhere (a fresh clone in a temp folder), at the
 * place development and CI machines of this kind keep it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BESIDE = fileURLToPath(new URL('../../../../shared/datasets/', import.meta.url));
const MACHINE = '/work/shared/datasets/';

export const DATASETS = existsSync(BESIDE) || !existsSync(MACHINE) ? BESIDE : MACHINE;
