import { type ApiReply, type RunView, SUBJECTS } from '@rein/contracts';
import type { RunsApi } from '@rein/orchestration';
import type { Transport } from '@rein/transport';
import { type RunApi, type RunInfo, type RunStatus, runInfoOf } from './intake.loop.js';

/**
 * The run API inside the orchestrator: intake submits and cancels through the same RunsApi the
 * HTTP and NATS controllers call (media type, limits, idempotency keys, `by`), and reads runs as
 * GET /v1/runs/{id} does, from the audit service over the transport.
 */
export class InProcessRunApi implements RunApi {
  constructor(
    private readonly o: {
      readonly api: Pick<RunsApi, 'submit' | 'cancel'>;
      readonly bus: Pick<Transport, 'request'>;
      /** Recorded as `by` on what intake submits and cancels, e.g. `intake:gh`. */
      readonly by: string;
      /** Where a person reads a run: the inspector's page of the server. */
      readonly link: (runId: string) => string;
    },
  ) {}

  async submit(spec: Record<string, unknown>): Promise<{ runId: string | undefined; created: boolean }> {
    const reply = await this.o.api.submit(JSON.stringify(spec), 'application/json', this.o.by);
    if (reply.status === 201) return { runId: (reply.body as RunView).runId, created: true };
    if (reply.status === 200) return { runId: (reply.body as RunView).runId, created: false };
    // The key was used with another spec (the text changed since): it is claimed already.
    if (reply.status === 409) return { runId: undefined, created: false };
    throw new Error(`the run API refused the spec (${reply.status}): ${messageOf(reply)}`);
  }

  async cancel(runId: string, reason: string): Promise<void> {
    const reply = await this.o.api.cancel(runId, { reason }, this.o.by);
    // 409: it finished already, nothing to cancel.
    if (reply.status !== 202 && reply.status !== 409) {
      throw new Error(`cancel ${runId} answered ${reply.status}: ${messageOf(reply)}`);
    }
  }

  async status(runId: string): Promise<RunStatus | undefined> {
    return (await this.view(runId))?.status;
  }

  async view(runId: string): Promise<RunInfo | undefined> {
    const reply = await this.o.bus.request<ApiReply>(SUBJECTS.query.get, { runId });
    if (reply.status === 404) return undefined;
    if (reply.status !== 200)
      throw new Error(`reading run ${runId} answered ${reply.status}: ${messageOf(reply)}`);
    return runInfoOf(reply.body as RunView);
  }

  link(runId: string): string {
    return this.o.link(runId);
  }
}

function messageOf(reply: ApiReply): string {
  const body = reply.body as { error?: { message?: string } } | undefined;
  return body?.error?.message ?? 'no message';
}
