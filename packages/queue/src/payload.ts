import { Value } from '@sinclair/typebox/value';
import './formats.js';
import { PAYLOAD_SCHEMAS, type JobName, type JobPayload } from './types.js';

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
