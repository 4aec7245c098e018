/**
 * What a bearer token may do. Scopes are independent: `runs:submit` does not
 * imply `runs:read`, so a CI token that submits and watches needs both. `admin` grants all.
 *
 * | scope          | calls                                                                     |
 * |----------------|---------------------------------------------------------------------------|
 * | `runs:submit`  | POST /v1/runs, cancel, rollback (they change what a run does, as a submit does) |
 * | `runs:read`    | every GET under /v1 (runs, events incl. SSE, attempts, replay, report, pools, openapi.json, intake) |
 * | `runs:approve` | approve, reject (a human's decision, kept apart from the CI that submits)  |
 * | `admin`        | everything                                                                |
 *
 * `POST /v1/intake/{tracker}/webhook` needs no token: a tracker sends none, so the webhook
 * is authenticated by its signature over the body (docs/intake.md), and it only triggers a poll.
 *
 * `/healthz`, `/readyz` and `/metrics` need no token: probes and scrapers carry none, and they
 * answer only liveness, readiness and counters (no specs, prompts, outputs or secrets).
 */
export const SCOPES = ['runs:submit', 'runs:read', 'runs:approve', 'admin'] as const;

export type Scope = (typeof SCOPES)[number];

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

/** Whether a token with `granted` may make a call that needs `needed`. */
export function grants(granted: readonly Scope[], needed: Scope): boolean {
  return granted.includes('admin') || granted.includes(needed);
}
