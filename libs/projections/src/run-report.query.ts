import {
  type ApiReply,
  fail,
  failAll,
  fromStoredRunEvent,
  isRunId,
  ok,
  parseText,
  REPORT_FORMATS,
  type ReportFormat,
  type RunEvent,
  type RunReport,
  runStream,
} from '@rein/contracts';
import type { EventStore } from '@rein/event-store';
import { SpecResolver } from '@rein/run-log';
import { runReport } from './run-report.js';
import { reportHtml, reportMarkdown } from './run-report.render.js';

/** Events read per round trip. */
const PAGE = 10_000;

/**
 * `GET /v1/runs/{id}/report` and `rein.v1.runs.report`: reads a run's stream and builds its
 * report, as JSON or rendered (`md`, `html`: the body is then the text).
 */
export class RunReports {
  private readonly specs: SpecResolver;

  constructor(private readonly store: EventStore) {
    this.specs = new SpecResolver(store);
  }

  async report(id: unknown, format: unknown = 'json'): Promise<ApiReply<RunReport | string>> {
    const p = parseText(id, 'runId', '{ "runId": "<run id>" }');
    if (!p.ok) return failAll([p.problem]);
    const f = formatOf(format);
    if (typeof f !== 'string') return f;
    const runId = p.value;
    const events = isRunId(runId) ? await this.read(runId) : [];
    if (events.length === 0)
      return fail('not_found', `run ${runId.slice(0, 80)} does not exist`, '', 'list runs with GET /v1/runs');
    const report = runReport(events);
    return ok(f === 'json' ? report : f === 'md' ? reportMarkdown(report) : reportHtml(report));
  }

  private async read(runId: string): Promise<RunEvent[]> {
    const events: RunEvent[] = [];
    for (let after = 0; ;) {
      const page = await this.store.readStream(runStream(runId), { after, limit: PAGE });
      for (const s of page) {
        const e = fromStoredRunEvent(runId, s);
        events.push(e.type === 'RunSubmitted' ? await this.specs.resolve(e) : e);
      }
      if (page.length < PAGE) return events;
      after = page[page.length - 1]!.streamPosition;
    }
  }
}

function formatOf(format: unknown): ReportFormat | ApiReply<never> {
  if (typeof format === 'string' && (REPORT_FORMATS as readonly string[]).includes(format))
    return format as ReportFormat;
  return fail(
    'invalid_spec',
    `format must be one of ${REPORT_FORMATS.join(', ')}`,
    '/format',
    'e.g. { "runId": "…", "format": "md" }',
  );
}
