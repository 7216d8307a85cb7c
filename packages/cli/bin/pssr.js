#!/usr/bin/env node
// The `pssr` command. The workspaces ship TypeScript sources (no build step), so register tsx's loader
// and hand over to src/main.ts.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../src/main.ts');
await run(process.argv.slice(2));
