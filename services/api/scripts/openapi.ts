/** Regenerates services/api/openapi.json from the route schemas (`npm run openapi -w @pssr/api`). */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { generateOpenApi, renderOpenApi } from '../src/openapi.js';

const target = fileURLToPath(new URL('../openapi.json', import.meta.url));
await writeFile(target, renderOpenApi(await generateOpenApi()));
console.log(`wrote ${target}`);
