// A Prisma generator that writes the DMMF (Prisma's own parse of schema.prisma) to $DMMF_OUT as JSON.
// Used by schema-drift.test.ts; speaks the generator JSON-RPC protocol (requests on stdin, replies on stderr).
import { createInterface } from 'node:readline';
import { writeFileSync } from 'node:fs';

createInterface({ input: process.stdin }).on('line', (line) => {
  const msg = JSON.parse(line);
  let result = null;
  if (msg.method === 'getManifest') {
    result = { manifest: { prettyName: 'DMMF dump', defaultOutput: '.', requiresEngines: [] } };
  } else if (msg.method === 'generate') {
    writeFileSync(process.env.DMMF_OUT, JSON.stringify(msg.params.dmmf.datamodel));
  }
  process.stderr.write(`${JSON.stringify({ jsonrpc: '2.0', id: msg.id, result })}\n`);
});
