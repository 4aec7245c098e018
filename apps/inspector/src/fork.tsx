import type { ForkPlan, ForkRequest, RunView } from '@rein/contracts';
import { useEffect, useRef, useState } from 'preact/hooks';
import { runPath, useApi } from './api.js';
import { navigate, runHref } from './nav.js';

/**
 * "Fork here" (DESIGN.md, Lineage): the dry run's plan for forking `runId` at `atEvent` — the
 * tasks carried over and those that re-run, with why — then Confirm forks and goes to the new
 * run. Overrides (a SpecOverrides JSON object) are optional; "Plan again" asks with them.
 * Errors (400, 409 snapshot_gone) go to the page's action-error area through `onError`.
 */
export function ForkPlanBox({
  runId,
  atEvent,
  onClose,
  onError,
}: {
  runId: string;
  atEvent: number;
  onClose: () => void;
  onError: (message: string | null) => void;
}) {
  const api = useApi();
  const [plan, setPlan] = useState<ForkPlan['plan'] | null>(null);
  const [overrides, setOverrides] = useState('');
  const [busy, setBusy] = useState(false);
  // One key per box: a second Confirm (a double click) answers the fork the first one made.
  const [key] = useState(() => `inspector-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);

  /** The request with the overrides typed in, or null (and the error shown) when they are not JSON. */
  const request = (dryRun: boolean): ForkRequest | null => {
    const text = overrides.trim();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch (e) {
      onError(`overrides: not JSON (${(e as Error).message}); e.g. {"tasks": {"b": {"prompt": "…"}}}`);
      return null;
    }
    return {
      atEvent,
      ...(parsed === undefined ? {} : { overrides: parsed as NonNullable<ForkRequest['overrides']> }),
      ...(dryRun ? { dryRun } : { idempotencyKey: key }),
    };
  };
  const send = async <T,>(dryRun: boolean): Promise<T | null> => {
    const body = request(dryRun);
    if (body === null) return null;
    setBusy(true);
    try {
      const answer = await api.postJson<T>(`${runPath(runId)}/fork`, body);
      onError(null);
      return answer;
    } catch (e) {
      onError((e as Error).message);
      return null;
    } finally {
      setBusy(false);
    }
  };
  const askPlan = async (): Promise<void> => {
    setPlan(null);
    const answer = await send<ForkPlan>(true);
    if (answer) setPlan(answer.plan);
  };
  const confirm = async (): Promise<void> => {
    const fork = await send<RunView>(false);
    if (fork) navigate(runHref(fork.runId));
  };
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    box.current?.scrollIntoView({ block: 'nearest' });
    void askPlan();
  }, [runId, atEvent]);

  return (
    <div
      class="fork-plan"
      ref={box}
      data-testid="fork-plan"
      data-at={atEvent}
      data-ready={plan ? 'yes' : 'no'}
    >
      <b>
        Fork {runId} at event {atEvent}
      </b>
      {plan ? (
        <div class="plan">
          <div data-testid="fork-reused">
            <span class="muted">carried over ({plan.reused.length}):</span>{' '}
            {plan.reused.length > 0
              ? plan.reused.map((t) => (
                  <span class="chip state-succeeded" data-task={t}>
                    {t}
                  </span>
                ))
              : 'nothing'}
          </div>
          <div data-testid="fork-rerun">
            <span class="muted">runs again ({plan.rerun.length}):</span>
            {plan.rerun.length > 0 ? (
              <ul>
                {plan.rerun.map((r) => (
                  <li data-task={r.taskId}>
                    <span class="mono">{r.taskId}</span> <span class="muted">— {r.because}</span>
                  </li>
                ))}
              </ul>
            ) : (
              ' nothing'
            )}
          </div>
        </div>
      ) : (
        <p class="muted">{busy ? 'asking for the plan…' : 'no plan yet: Plan again'}</p>
      )}
      <details>
        <summary>overrides</summary>
        <textarea
          placeholder='{"tasks": {"b": {"prompt": "…"}}}'
          value={overrides}
          onInput={(e) => {
            setOverrides(e.currentTarget.value);
            setPlan(null);
          }}
          data-testid="fork-overrides"
        />
        <button disabled={busy} onClick={() => void askPlan()} data-testid="fork-replan">
          Plan again
        </button>
      </details>
      <div class="actions">
        <button class="ok" disabled={busy || !plan} onClick={() => void confirm()} data-testid="fork-confirm">
          Confirm fork
        </button>
        <button onClick={onClose} data-testid="fork-cancel">
          Cancel
        </button>
      </div>
    </div>
  );
}
