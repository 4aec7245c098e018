import {
  type ApiReply,
  type ApprovalDecision,
  type CancelRequest,
  fail,
  pointer,
  type RetryRequest,
  type RollbackRequest,
  WireValidators,
} from '@rein/contracts';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';

/**
 * The small JSON bodies of cancel, rollback, approve / reject and retry, checked by the validators
 * compiled from their published schemas (libs/contracts request-bodies.ts), so what the server
 * accepts is what the OpenAPI document says. Ajv's errors are then said as the API has always
 * said them: one problem, the first found, with the message, JSON Pointer and hint below.
 */

/** What a body that does not validate is told. */
interface BodyMessages {
  /** The hint for a field no form of the body has, and for a body of no allowed form. */
  readonly hint: string;
  /** What a body of no allowed form is told (rollback: neither target, or both). */
  readonly form: string;
  /** Per field: what a value of the wrong type or out of range is told, and how to fix it. */
  readonly fields: Readonly<Record<string, readonly [message: string, hint: string]>>;
}

const CANCEL: BodyMessages = {
  hint: 'send {} or { "reason": "…" }',
  form: 'the body must be {} or { "reason": "…" }',
  fields: { reason: ['reason must be a string', 'send { "reason": "…" }'] },
};

const ROLLBACK: BodyMessages = {
  hint: 'send { "toEvent": N } or { "task": "<task id>" }',
  form: 'rollback needs exactly one of toEvent or task',
  fields: {
    toEvent: [
      'toEvent must be an integer event seq',
      'send { "toEvent": N } with 1 ≤ N ≤ the run\'s last seq',
    ],
    task: ['task must be a task id', 'send { "task": "<task id>" }'],
  },
};

const APPROVAL: BodyMessages = {
  hint: 'send { "comment": "…" }, and { "final": true } to fail the task',
  form: 'the body must be {} or { "comment": "…", "final": true }',
  fields: {
    comment: ['comment must be a string', 'send { "comment": "…" }'],
    final: ['final must be a boolean', 'send { "final": true } to fail the task'],
  },
};

const RETRY: BodyMessages = {
  hint: 'send an empty body or {}',
  form: 'a retry takes an empty body or {}',
  fields: {},
};

/** A body as its type, or the 400 that refuses it. */
export type Checked<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reply: ApiReply<never> };

export class RequestBodyChecks {
  private readonly cancelRequest: ValidateFunction;
  private readonly rollbackRequest: ValidateFunction;
  private readonly approvalDecision: ValidateFunction;
  private readonly retryRequest: ValidateFunction;

  constructor(wire: WireValidators = new WireValidators()) {
    this.cancelRequest = wire.of('CancelRequest');
    this.rollbackRequest = wire.of('RollbackRequest');
    this.approvalDecision = wire.of('ApprovalDecision');
    this.retryRequest = wire.of('RetryRequest');
  }

  cancel(body: unknown): Checked<CancelRequest> {
    return check(this.cancelRequest, body, CANCEL);
  }

  rollback(body: unknown): Checked<RollbackRequest> {
    return check(this.rollbackRequest, body, ROLLBACK);
  }

  approval(body: unknown): Checked<ApprovalDecision> {
    return check(this.approvalDecision, body, APPROVAL);
  }

  retry(body: unknown): Checked<RetryRequest> {
    return check(this.retryRequest, body, RETRY);
  }
}

/** An absent body is `{}`, as an empty one is. */
function check<T>(validate: ValidateFunction, body: unknown, messages: BodyMessages): Checked<T> {
  const value = body ?? {};
  if (validate(value)) return { ok: true, value: value as T };
  const [message, path, hint] = firstProblem(validate.errors ?? [], messages);
  return { ok: false, reply: fail('invalid_spec', message, path, hint) };
}

/**
 * The one problem to report, in the order the API has always checked: a field no form of the
 * body has; then, if the body has the fields of one form and only their values are wrong, the
 * first wrong value; otherwise the body's form. A schema with alternatives (`oneOf`: rollback's
 * `{ toEvent }` or `{ task }`) reports errors for each, told apart by their schema path.
 */
function firstProblem(
  errors: readonly ErrorObject[],
  m: BodyMessages,
): [message: string, path: string, hint: string] {
  const byForm = new Map<string, ErrorObject[]>();
  for (const e of errors) {
    if (e.keyword === 'oneOf' && e.instancePath === '') continue; // "matches none": said below
    const form = /^#\/oneOf\/(\d+)\//.exec(e.schemaPath)?.[1] ?? '';
    byForm.set(form, [...(byForm.get(form) ?? []), e]);
  }
  const forms = [...byForm.values()];
  const extras = forms.map(
    (es) =>
      new Set(
        es
          .filter((e) => e.keyword === 'additionalProperties')
          .map((e) => String(e.params.additionalProperty)),
      ),
  );
  // Unknown to every form; a field that only another form has means the body mixes forms.
  const unknown = [...(extras[0] ?? [])].find((field) => extras.every((x) => x.has(field)));
  if (unknown !== undefined) return [`unknown field ${unknown}`, pointer(unknown), m.hint];
  const fitting = forms.find((es) => es.every((e) => e.instancePath !== ''));
  const wrong = fitting?.[0];
  if (wrong) {
    const segment = wrong.instancePath.split('/')[1]!;
    const field = segment.replace(/~1/g, '/').replace(/~0/g, '~');
    const [message, hint] = m.fields[field] ?? [`${field} ${wrong.message ?? 'is invalid'}`, m.hint];
    return [message, `/${segment}`, hint];
  }
  return [m.form, '', m.hint];
}
