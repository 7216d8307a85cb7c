import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { generateOpenApi, renderOpenApi } from '../src/openapi.js';

test('the committed services/api/openapi.json matches the route schemas (run `npm run openapi -w @pssr/api`)', async () => {
  const committed = await readFile(new URL('../openapi.json', import.meta.url), 'utf8');
  const generated = renderOpenApi(await generateOpenApi());
  assert.equal(generated, committed, 'OpenAPI drift: regenerate with `npm run openapi -w @pssr/api` and commit services/api/openapi.json');
});

test('the OpenAPI document covers the REST API v1 and marks the public routes', async () => {
  const doc = (await generateOpenApi()) as { paths: Record<string, Record<string, { security?: unknown[] }>> };
  const expected: [string, string][] = [
    ['post', '/v1/stacks'],
    ['post', '/v1/stacks/uploads'],
    ['get', '/v1/stacks/uploads/{id}'],
    ['put', '/v1/stacks/uploads/{id}/parts/{part}'],
    ['post', '/v1/stacks/uploads/{id}/complete'],
    ['get', '/v1/stacks/{id}'],
    ['get', '/v1/stacks/{id}/data'],
    ['post', '/v1/jobs'],
    ['get', '/v1/jobs'],
    ['get', '/v1/jobs/{id}'],
    ['get', '/v1/jobs/{id}/events'],
    ['delete', '/v1/jobs/{id}'],
    ['get', '/v1/models'],
    ['get', '/v1/models/{name}'],
    ['get', '/health'],
    ['get', '/ready'],
  ];
  for (const [method, path] of expected) assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`);
  assert.deepEqual(doc.paths['/health']!['get']!.security, []);
  assert.equal(doc.paths['/v1/jobs']!['post']!.security, undefined, 'inherits the global bearer requirement');
});
