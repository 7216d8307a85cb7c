/**
 * Test support: an in-process S3 server (s3rver) on loopback, for this package's tests and the end-to-end
 * tests. s3rver 3.7 implements neither ListParts nor AbortMultipartUpload; the server started here adds both
 * (real S3 XML over s3rver's own part files) so resumable uploads run the same code as against S3/MinIO.
 * Import from '@pssr/storage/testing' in tests only (s3rver is a root devDependency).
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import type { S3StoreConfig } from './types.js';

export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** Ready for `new S3ObjectStore(config)`. */
  config: S3StoreConfig;
  close(): Promise<void>;
}

const xmlEscape = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** Lets a browser page of any origin PUT parts and GET objects, and read the ETag, as a bucket for the dashboard needs. */
const BROWSER_CORS = `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>
<AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>`;

export async function startTestS3(opts: { bucket?: string; browserCors?: boolean } = {}): Promise<TestS3> {
  const bucket = opts.bucket ?? 'pssr-test';
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const configureBuckets = [{ name: bucket, configs: opts.browserCors ? [BROWSER_CORS] : [] }];
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets });

  server.middleware.unshift(async (ctx, next) => {
    const uploadId = ctx.query.uploadId;
    const [b, ...keyParts] = ctx.path.split('/').filter(Boolean).map(decodeURIComponent);
    const isList = ctx.method === 'GET' && uploadId !== undefined && ctx.query.partNumber === undefined;
    const isAbort = ctx.method === 'DELETE' && uploadId !== undefined;
    if (!b || keyParts.length === 0 || (!isList && !isAbort) || !/^[0-9a-f]+$/.test(uploadId ?? '')) return next();
    const dir = join(server.store.getResourcePath(b, undefined, 'uploads'), uploadId!);
    const exists = await stat(dir).then(() => true, () => false);
    if (!exists) {
      ctx.status = 404;
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message><UploadId>${xmlEscape(uploadId!)}</UploadId></Error>`;
      return;
    }
    if (isAbort) {
      await rm(dir, { recursive: true, force: true });
      ctx.status = 204;
      ctx.body = '';
      return;
    }
    const numbers = (await readdir(dir)).filter((n) => /^\d+$/.test(n)).map(Number).sort((x, y) => x - y);
    const parts = await Promise.all(numbers.map(async (n) => {
      const s = await stat(join(dir, String(n)));
      const md5 = (await readFile(join(dir, `${n}.md5`), 'utf8').catch(() => '')).trim();
      return `<Part><PartNumber>${n}</PartNumber><LastModified>${s.mtime.toISOString()}</LastModified><ETag>"${md5}"</ETag><Size>${s.size}</Size></Part>`;
    }));
    ctx.status = 200;
    ctx.type = 'application/xml';
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
      `<Bucket>${xmlEscape(b)}</Bucket><Key>${xmlEscape(keyParts.join('/'))}</Key><UploadId>${uploadId}</UploadId>` +
      `<PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>${numbers.at(-1) ?? 0}</NextPartNumberMarker>` +
      `<MaxParts>10000</MaxParts><IsTruncated>false</IsTruncated>${parts.join('')}</ListPartsResult>`;
  });

  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  return {
    endpoint,
    bucket,
    config: { endpoint, bucket, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', forcePathStyle: true },
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
