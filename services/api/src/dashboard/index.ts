/**
 * The web dashboard, served by the API itself (same origin, same auth, the same /v1 routes): static ES
 * modules from `services/api/web/` under `/dashboard/`, Preact and htm straight from node_modules (no
 * bundler, no build step), and a strict Content-Security-Policy. `/` redirects to it.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { ApiConfig } from '@pssr/config';

export const DASHBOARD_PATH = '/dashboard/';
const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
const require = createRequire(import.meta.url);

/** Folders of the browser builds the page imports (its import map points at these). */
function vendorDirs(): Record<string, string> {
  // Each entry's folder also holds its ES module build (`*.module.js`), which the import map names.
  const folderOf = (entry: string) => dirname(require.resolve(entry));
  return { preact: folderOf('preact'), 'preact-hooks': folderOf('preact/hooks'), htm: folderOf('htm'), 'htm-preact': folderOf('htm/preact') };
}

/** Where presigned part uploads go, for connect-src (the browser PUTs parts straight to S3). */
function storageOrigin(config: ApiConfig): string {
  if (config.storage.kind !== 's3') return '';
  return config.storage.endpoint ? new URL(config.storage.endpoint).origin : 'https://*.amazonaws.com';
}

/** The page's only inline script is its import map; CSP allows exactly that one by hash. */
function contentSecurityPolicy(html: string, config: ApiConfig): string {
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
  const hash = createHash('sha256').update(importMap, 'utf8').digest('base64');
  return [
    "default-src 'self'",
    `script-src 'self' 'sha256-${hash}'`,
    "style-src 'self'",
    "img-src 'self' data: blob:",
    `connect-src 'self' ${storageOrigin(config)}`.trim(),
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
}

export async function dashboardPlugin(app: FastifyInstance): Promise<void> {
  const html = await readFile(join(WEB_DIR, 'index.html'), 'utf8');
  const csp = contentSecurityPolicy(html, app.config);

  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect(DASHBOARD_PATH, 302));

  await app.register(async (scope) => {
    scope.addHook('onSend', async (_request, reply, payload) => {
      reply.header('content-security-policy', csp).header('x-content-type-options', 'nosniff').header('referrer-policy', 'same-origin');
      return payload;
    });
    scope.get(DASHBOARD_PATH, { schema: { hide: true } }, async (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(html));
    scope.get('/dashboard', { schema: { hide: true } }, async (_request, reply) => reply.redirect(DASHBOARD_PATH, 301));
    await scope.register(fastifyStatic, { root: WEB_DIR, prefix: DASHBOARD_PATH, index: false, wildcard: true, cacheControl: true, maxAge: 0 });
    for (const [name, dir] of Object.entries(vendorDirs())) {
      await scope.register(fastifyStatic, { root: dir, prefix: `${DASHBOARD_PATH}vendor/${name}/`, decorateReply: false, index: false, maxAge: '1d' });
    }
  });
}
