import { describe, expect, it } from '@jest/globals';
import { RequestBodyChecks } from './request-bodies.check.js';

const checks = new RequestBodyChecks();

/** The problem a body is refused with, or `accepted` with the value it is taken as. */
function said(result: ReturnType<RequestBodyChecks['rollback' | 'cancel' | 'approval' | 'retry']>): unknown {
  if (result.ok) return { accepted: result.value };
  const { status, body } = result.reply;
  const { code, message, path, hint } = (body as { error: Record<string, string> }).error;
  return { status, code, message, path, hint };
}

const invalid = (message: string, path: string, hint: string) => ({
  status: 400,
  code: 'invalid_spec',
  message,
  path,
  hint,
});

describe('request bodies are checked by their published schemas and refused as the API always said', () => {
  it('rollback: one of toEvent and task, an integer seq or a task id', () => {
    const hint = 'send { "toEvent": N } or { "task": "<task id>" }';
    const seqHint = 'send { "toEvent": N } with 1 ≤ N ≤ the run\'s last seq';
    expect(
      [
        { toEvent: 3 },
        { task: 'api' },
        undefined,
        {},
        { toEvent: 3, task: 'api' },
        { toEvent: 3, why: 'x' },
        { 'a/b': 1 },
        { toEvent: '3' },
        { toEvent: 1.5 },
        { toEvent: 0 },
        { task: 7 },
        { task: 'a b' },
        { toEvent: 'x', task: 'api' },
      ].map((b) => said(checks.rollback(b))),
    ).toEqual([
      { accepted: { toEvent: 3 } },
      { accepted: { task: 'api' } },
      invalid('rollback needs exactly one of toEvent or task', '', hint),
      invalid('rollback needs exactly one of toEvent or task', '', hint),
      invalid('rollback needs exactly one of toEvent or task', '', hint),
      invalid('unknown field why', '/why', hint),
      invalid('unknown field a/b', '/a~1b', hint),
      invalid('toEvent must be an integer event seq', '/toEvent', seqHint),
      invalid('toEvent must be an integer event seq', '/toEvent', seqHint),
      invalid('toEvent must be an integer event seq', '/toEvent', seqHint),
      invalid('task must be a task id', '/task', 'send { "task": "<task id>" }'),
      invalid('task must be a task id', '/task', 'send { "task": "<task id>" }'),
      invalid('rollback needs exactly one of toEvent or task', '', hint),
    ]);
  });

  it('approve and reject: an optional string comment and boolean final', () => {
    expect(
      [
        {},
        { comment: 'ship it', final: true },
        { comment: 1 },
        { final: 'yes' },
        { comment: 1, final: 'yes' },
        { approve: true },
      ].map((b) => said(checks.approval(b))),
    ).toEqual([
      { accepted: {} },
      { accepted: { comment: 'ship it', final: true } },
      invalid('comment must be a string', '/comment', 'send { "comment": "…" }'),
      invalid('final must be a boolean', '/final', 'send { "final": true } to fail the task'),
      invalid('comment must be a string', '/comment', 'send { "comment": "…" }'),
      invalid(
        'unknown field approve',
        '/approve',
        'send { "comment": "…" }, and { "final": true } to fail the task',
      ),
    ]);
  });

  it('retry: nothing', () => {
    expect([{}, undefined, { force: true }].map((b) => said(checks.retry(b)))).toEqual([
      { accepted: {} },
      { accepted: {} },
      invalid('unknown field force', '/force', 'send an empty body or {}'),
    ]);
  });

  it('cancel (of a run or a task): an optional string reason', () => {
    expect([{}, { reason: 'e2e' }, { reason: 1 }, { why: 'x' }].map((b) => said(checks.cancel(b)))).toEqual([
      { accepted: {} },
      { accepted: { reason: 'e2e' } },
      invalid('reason must be a string', '/reason', 'send { "reason": "…" }'),
      invalid('unknown field why', '/why', 'send {} or { "reason": "…" }'),
    ]);
  });
});
