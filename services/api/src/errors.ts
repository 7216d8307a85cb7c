/**
 * Every error the API returns is `application/problem+json` (RFC 9457) with a stable `code`, written by ONE
 * handler (`problemHandler`). 5xx answers never carry internals: no stack, no SQL, no driver message.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isPssrError, type ErrorCode } from '@pssr/core';
import { isDbUnavailableError } from '@pssr/db';
import { isStorageError } from '@pssr/storage';
import { isQueueUnavailableError } from '@pssr/queue';

/** Codes the API adds to the engine's (`ErrorCode` of @pssr/core). */
export type ApiErrorCode =
  | ErrorCode
  | 'BAD_REQUEST'
  | 'BAD_JSON'
  | 'VALIDATION_FAILED'
  | 'UNKNOWN_JOB_TYPE'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'CSRF_FAILED'
  | 'NOT_FOUND'
  | 'STACK_NOT_FOUND'
  | 'STACK_NOT_READY'
  | 'JOB_NOT_FOUND'
  | 'UPLOAD_NOT_FOUND'
  | 'UPLOAD_PARTS_MISSING'
  | 'UPLOAD_COMPLETED'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'JOB_FINISHED'
  | 'REPORT_NOT_FOUND'
  | 'REPORT_NOT_READY'
  | 'REPORT_UNAVAILABLE'
  | 'PAYLOAD_TOO_LARGE'
  | 'JOB_OUTPUT_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'METHOD_NOT_ALLOWED'
  | 'RANGE_NOT_SATISFIABLE'
  | 'BAD_MULTIPART'
  | 'UPLOAD_SIZE_MISMATCH'
  | 'REQUEST_TIMEOUT'
  | 'HEADERS_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'AUTH_RATE_LIMITED'
  | 'TOO_MANY_STREAMS'
  | 'STACK_IN_USE'
  | 'STORAGE_QUOTA_EXCEEDED'
  | 'SERVICE_UNAVAILABLE'
  | 'QUEUE_UNAVAILABLE'
  /** A job's failure code (not an HTTP answer): its queue entry was removed behind the API's back. */
  | 'REMOVED_FROM_QUEUE';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly code: ApiErrorCode,
    message: string,
    /** Extra members of the problem document (e.g. `missingParts`). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** HTTP status for each engine error code a request can cause. */
const PSSR_STATUS: Partial<Record<ErrorCode, number>> = {
  INPUT_NOT_FOUND: 404,
  INPUT_EMPTY: 400,
  INPUT_UNREADABLE: 400,
  NOT_A_TIFF: 415,
  TIFF_TRUNCATED: 400,
  TIFF_CORRUPT: 400,
  TIFF_IFD_LOOP: 400,
  TIFF_UNSUPPORTED: 415,
  TIFF_TOO_LARGE: 413,
  FRAME_SIZE_MISMATCH: 400,
  MODEL_NOT_FOUND: 404,
  MODEL_CARD_INVALID: 422,
  MODEL_INPUT_MISMATCH: 422,
  INVALID_ARGUMENT: 400,
  TRAIN_BAD_INPUT: 422,
  CANCELED: 409,
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  411: 'Length Required',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  instance?: string;
  requestId?: string;
  [extra: string]: unknown;
}

/** Fastify's own error codes (parsing, limits, routing) mapped to ours. */
function fromFastifyCode(err: FastifyError): { status: number; code: ApiErrorCode; detail: string } | null {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: 'BAD_JSON', detail: 'The request body is not valid JSON.' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
      return { status: 413, code: 'PAYLOAD_TOO_LARGE', detail: 'The request body is larger than this server accepts.' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', detail: err.message };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, code: 'BAD_REQUEST', detail: 'Content-Length does not match the body.' };
    case 'FST_PROTO_VIOLATION':
      return { status: 400, code: 'BAD_MULTIPART', detail: 'A multipart field may not be named "__proto__" or "constructor".' };
    case 'FST_MP_PREMATURE_CLOSE':
      return { status: 400, code: 'BAD_MULTIPART', detail: 'The request ended before the multipart body was complete.' };
    case 'FST_ERR_CTP_INVALID_TYPE':
      return { status: 400, code: 'BAD_REQUEST', detail: 'Malformed request body.' };
    default:
      return null;
  }
}

function validationDetail(err: FastifyError): { code: ApiErrorCode; detail: string } {
  const v = err.validation ?? [];
  if (v.some((e) => e.keyword === 'discriminator')) {
    return { code: 'UNKNOWN_JOB_TYPE', detail: 'Unknown job "type": expected "restore" or "train".' };
  }
  const ctx = err.validationContext ?? 'body';
  const parts = v.slice(0, 5).map((e) => {
    const where = `${ctx}${e.instancePath ? e.instancePath.replace(/\//g, '.') : ''}`;
    const params = e.params as Record<string, unknown>;
    if (e.keyword === 'additionalProperties') return `${where}: unknown property "${String(params['additionalProperty'])}"`;
    if (e.keyword === 'required') return `${where}: missing property "${String(params['missingProperty'])}"`;
    return `${where} ${e.message ?? 'is invalid'}`;
  });
  return { code: 'VALIDATION_FAILED', detail: parts.length ? `Invalid request: ${parts.join('; ')}.` : err.message };
}

/** Classifies any thrown value into a problem document (never exposing internals of 5xx). */
export function toProblem(err: unknown): { status: number; code: string; detail: string; extra: Record<string, unknown>; internal: boolean } {
  if (err instanceof ApiError) return { status: err.statusCode, code: err.code, detail: err.message, extra: err.extra, internal: false };
  if (isPssrError(err)) {
    const status = PSSR_STATUS[err.code];
    if (status !== undefined && err.userError) return { status, code: err.code, detail: err.message, extra: {}, internal: false };
    return { status: 500, code: 'INTERNAL', detail: 'Internal server error.', extra: {}, internal: true };
  }
  if (isDbUnavailableError(err)) {
    return { status: 503, code: 'SERVICE_UNAVAILABLE', detail: 'The database is unreachable; retry shortly.', extra: {}, internal: true };
  }
  if (isQueueUnavailableError(err)) {
    return { status: 503, code: 'QUEUE_UNAVAILABLE', detail: 'The job queue (Redis) is unreachable; retry shortly.', extra: {}, internal: true };
  }
  if (isStorageError(err)) {
    if (err.code === 'OBJECT_NOT_FOUND') return { status: 404, code: 'NOT_FOUND', detail: 'The stored object is missing.', extra: {}, internal: true };
    if (err.code === 'UPLOAD_NOT_FOUND') return { status: 404, code: 'UPLOAD_NOT_FOUND', detail: 'No such upload in progress.', extra: {}, internal: false };
  }
  const fe = err as FastifyError;
  if (fe && typeof fe === 'object') {
    if (fe.validation) {
      const { code, detail } = validationDetail(fe);
      return { status: 400, code, detail, extra: {}, internal: false };
    }
    const mapped = typeof fe.code === 'string' ? fromFastifyCode(fe) : null;
    if (mapped) return { ...mapped, extra: {}, internal: false };
    if (typeof fe.statusCode === 'number' && fe.statusCode === 429) {
      return { status: 429, code: 'RATE_LIMITED', detail: 'Too many requests; slow down.', extra: {}, internal: false };
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return { status: fe.statusCode, code: 'BAD_REQUEST', detail: typeof fe.message === 'string' ? fe.message : 'Bad request.', extra: {}, internal: false };
    }
  }
  return { status: 500, code: 'INTERNAL', detail: 'Internal server error.', extra: {}, internal: true };
}

export function sendProblem(reply: FastifyReply, request: FastifyRequest, status: number, code: string, detail: string, extra: Record<string, unknown> = {}): FastifyReply {
  const body: Problem = {
    type: `https://pssr.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    code,
    detail,
    instance: request.url.split('?')[0] ?? request.url,
    requestId: String(request.id),
    ...extra,
  };
  return reply.code(status).type('application/problem+json; charset=utf-8').serializer(JSON.stringify).send(body);
}

/** The one error handler of the app (set on the root instance). */
export function problemHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const p = toProblem(err);
  if (p.internal) {
    request.log.error({ err }, 'request failed');
  } else if (p.status >= 500) {
    request.log.warn({ code: p.code }, p.detail);
  }
  if (p.status === 503) reply.header('retry-after', '2');
  return sendProblem(reply, request, p.status, p.code, p.detail, p.extra);
}

export const notFound = (what: 'stack' | 'job' | 'model' | 'upload', id: string): ApiError => {
  const code: ApiErrorCode = what === 'stack' ? 'STACK_NOT_FOUND' : what === 'job' ? 'JOB_NOT_FOUND' : what === 'model' ? 'MODEL_NOT_FOUND' : 'UPLOAD_NOT_FOUND';
  return new ApiError(404, code, `No ${what} ${id} is visible to your group.`);
};

/** Races a dependency call against a timeout so a hung Redis or Postgres answers 503 instead of hanging. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ApiError(503, 'SERVICE_UNAVAILABLE', `${what} did not answer in time; retry shortly.`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
