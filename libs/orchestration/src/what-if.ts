import {
  type ApiReply,
  type RunEvent,
  type RunSettings,
  type RunSpec,
  type SpecLimits,
  type WhatIfReport,
  type WhatIfRequest,
  type WireValidators,
  applySpecOverrides,
  fail,
  failAll,
  ok,
} from '@rein/contracts';
import { whatIf } from '@rein/domain';
import type { ErrorObject } from 'ajv';

/**
 * `POST /v1/runs/{id}/what-if` `{ settings?, overrides? }`: the run's recorded facts decided again
 * under changed settings (merged over the recorded ones) or a changed spec (overrides, checked as
 * a submitted spec is). Reads only: nothing is appended, nothing runs.
 */
export function whatIfReply(
  events: readonly RunEvent[],
  body: unknown,
  o: { readonly limits: SpecLimits; readonly validators: WireValidators },
): ApiReply<WhatIfReport> {
  const request = o.validators.of('WhatIfRequest');
  if (!request(body)) {
    return refusal(
      request.errors,
      '',
      'send { "settings": { … } } and/or { "overrides": { "tasks": { … } } }',
    );
  }
  const change = body as WhatIfRequest;
  const submitted = events[0];
  if (submitted?.type !== 'RunSubmitted') {
    return fail('not_found', 'the run has no recorded submission', '', 'name a run that exists');
  }
  let settings: RunSettings | undefined;
  if (change.settings !== undefined) {
    const merged = { ...submitted.data.settings, ...change.settings };
    const check = o.validators.of('RunSettings');
    if (!check(merged)) {
      return refusal(
        check.errors,
        '/settings',
        "RunSettings' fields (see the OpenAPI document), merged over the run's own",
      );
    }
    settings = merged;
  }
  let spec: RunSpec | undefined;
  if (change.overrides !== undefined) {
    const patched = applySpecOverrides(submitted.data.spec, change.overrides, o.limits);
    if (!patched.ok) return failAll(patched.problems);
    spec = patched.spec;
  }
  return ok(
    whatIf(events, {
      ...(settings === undefined ? {} : { settings }),
      ...(spec === undefined ? {} : { spec }),
    }),
    200,
  );
}

/** The first of a body's schema errors as a 400 naming its JSON Pointer (`prefix` + where). */
export function refusal(
  errors: ErrorObject[] | null | undefined,
  prefix: string,
  hint: string,
): ApiReply<never> {
  const e = errors?.[0];
  const at = `${prefix}${e?.instancePath ?? ''}`;
  const extra = e?.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : '';
  const where = e?.keyword === 'additionalProperties' ? `${at}/${String(e.params.additionalProperty)}` : at;
  return fail('invalid_spec', `${at || 'body'} ${e?.message ?? 'is not valid'}${extra}`, where, hint);
}
