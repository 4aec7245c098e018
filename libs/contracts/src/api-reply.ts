import { type ErrorCode, type ErrorEnvelope, errorEnvelope, problem, type Problem } from './errors.js';

/**
 * What every API operation answers, over HTTP and over NATS alike: a status (HTTP semantics) and
 * a body — the resource, or DESIGN.md's error envelope.
 */
export interface ApiReply<T = unknown> {
  readonly status: number;
  readonly body: T | ErrorEnvelope;
}

export function ok<T>(body: T, status = 200): ApiReply<T> {
  return { status, body };
}

const STATUS: Record<ErrorCode, number> = {
  invalid_spec: 400,
  cycle: 400,
  too_large: 400,
  unsupported_media_type: 415,
  not_found: 404,
  conflict: 409,
  snapshot_gone: 409,
  unauthorized: 401,
  forbidden: 403,
};

export function fail(
  code: ErrorCode,
  message: string,
  path = '',
  hint = '',
  status = STATUS[code],
): ApiReply<never> {
  return { status, body: errorEnvelope([problem(code, message, path, hint)]) };
}

export function failAll(problems: readonly Problem[], status?: number): ApiReply<never> {
  const first = problems[0]!;
  return { status: status ?? STATUS[first.code], body: errorEnvelope(problems) };
}

export function isError(reply: ApiReply): reply is ApiReply<never> & { body: ErrorEnvelope } {
  return reply.status >= 400;
}
