import { FormatRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { PAYLOAD_SCHEMAS, type JobName, type JobPayload } from './types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => UUID.test(v));

export function isJobPayload(name: JobName, data: unknown): data is JobPayload {
  return Value.Check(PAYLOAD_SCHEMAS[name], data);
}

export function checkJobPayload(name: JobName, data: unknown): JobPayload {
  if (!isJobPayload(name, data)) {
    const first = [...Value.Errors(PAYLOAD_SCHEMAS[name], data)][0];
    throw new TypeError(`invalid ${name} job payload${first ? ` at ${first.path || '/'}: ${first.message}` : ''}`);
  }
  return data;
}
