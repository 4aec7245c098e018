import type { ReportAttempt, ReportTask, RunReport, Usage } from '@rein/contracts';

/**
 * The report as Markdown (for an incident ticket: headings, a table of tasks, a timeline list)
 * and as one self-contained HTML page (no scripts, no external assets). Both are made from the
 * JSON report alone, and every value in them is escaped: prompts, agent output and comments may
 * hold Markdown or HTML of their own.
 */

// ---------- Markdown ----------

export function reportMarkdown(r: RunReport): string {
  const out: string[] = [];
  out.push(`# Run report: ${md(r.name)}`, '');
  out.push('| | |', '|---|---|');
  for (const [k, v] of summaryRows(r)) out.push(`| ${k} | ${cell(v)} |`);
  out.push('');

  out.push('## Tasks', '');
  out.push('| Task | State | Attempts | Time | Usage | Reason |', '|---|---|--:|--:|--:|---|');
  for (const t of r.tasks) {
    out.push(
      `| ${cell(t.id)} | ${t.state} | ${t.attempts.length} | ${taskTime(t)} | ${usageText(taskUsage(t))} | ${cell(t.reason ?? '')} |`,
    );
  }
  out.push('');

  out.push('## Critical path', '');
  out.push(
    r.criticalPath.length === 0 ? 'No task ran.' : r.criticalPath.map((id) => `\`${code(id)}\``).join(' → '),
  );
  out.push('');

  out.push('## Timeline', '');
  if (r.timeline.length === 0) out.push('Nothing happened yet.');
  for (const e of r.timeline) out.push(`- \`${clock(e.at, r.startedAt)}\` ${md(e.text)} _(seq ${e.seq})_`);
  out.push('');

  out.push('## Failures', '');
  if (r.failures.length === 0) out.push('None.', '');
  for (const f of r.failures) {
    const gate = f.gate === undefined ? '' : ` (${f.gate} gate ${f.gateIndex ?? 0})`;
    out.push(`### ${md(f.taskId)} #${f.attempt}${gate}: ${f.final ? 'failed for good' : 'retried'}`, '');
    out.push(para(f.reason), '');
    if (f.output) out.push(fence(f.output), '');
  }

  out.push('## Retries', '');
  if (r.retries.length === 0) out.push('None.');
  for (const x of r.retries) {
    out.push(
      `- **${md(x.taskId)}** #${x.attempt} → #${x.nextAttempt} after ${x.delayMs} ms: ${md(x.reason)}`,
    );
    if (x.feedback)
      out.push('', indent(`Feedback given to #${x.nextAttempt}:`, 2), '', indent(fence(x.feedback), 2));
  }
  out.push('');

  out.push('## Approvals', '');
  if (r.approvals.length === 0) out.push('None.');
  else {
    out.push('| Task | Attempt | Decision | By | Comment | At |', '|---|--:|---|---|---|---|');
    for (const a of r.approvals) {
      const decision = a.final ? `${a.decision} (final)` : a.decision;
      out.push(
        `| ${cell(a.taskId)} | ${a.attempt} | ${decision} | ${cell(a.by)} | ${cell(a.comment ?? '')} | ${a.at} |`,
      );
    }
  }
  out.push('');

  out.push('## Rollbacks, cancels and retries', '');
  const steps = interventionSteps(r);
  if (steps.length === 0) out.push('None.');
  for (const s of steps) out.push(`- \`${clock(s.at, r.startedAt)}\` ${md(s.text)} _(seq ${s.seq})_`);
  out.push('');

  out.push('## Anomalies', '');
  if (r.anomalies.length === 0) out.push('None.');
  else {
    out.push('| Kind | Task | Attempt | Seq | Detail |', '|---|---|--:|--:|---|');
    for (const a of r.anomalies) {
      out.push(`| ${a.kind} | ${cell(a.taskId ?? '')} | ${a.attempt ?? ''} | ${a.seq} | ${cell(a.detail)} |`);
    }
  }
  out.push('');
  return out.join('\n');
}

/** Inline Markdown text: every character that could start markup or HTML is escaped. */
function md(text: string): string {
  return text.replace(/[\\`*_[\]<>|~&]/g, '\\$&').replace(/\r?\n/g, ' ');
}

/** A paragraph of inline text: also escaped where a line start would make it a heading, list or quote. */
function para(text: string): string {
  return md(text).replace(/^(\s*)([#>+=-]|\d+[.)])/, '$1\\$2');
}

/** A table cell: inline text on one line. */
function cell(text: string): string {
  return md(text);
}

/** Text inside an inline code span (ids only: they cannot hold a backtick). */
function code(text: string): string {
  return text.replace(/`/g, "'");
}

/** A fenced block longer than any run of backticks inside it, so nothing can close it early. */
function fence(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const f = '`'.repeat(Math.max(3, longest + 1));
  return `${f}text\n${text.replace(/\s+$/, '')}\n${f}`;
}

function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((l) => (l === '' ? l : pad + l))
    .join('\n');
}

// ---------- HTML ----------

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right}code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;max-height:24rem;white-space:pre-wrap}
.succeeded{color:#1a7f37}.failed{color:#cf222e}.cancelled,.skipped{color:#6e7781}.running,.verifying,.retrying{color:#9a6700}
ol.timeline{padding-left:1.2rem}ol.timeline li{margin:.1rem 0}.seq{color:#6e7781;font-size:12px}
`;

export function reportHtml(r: RunReport): string {
  const parts: string[] = [];
  const p = (s: string): void => void parts.push(s);
  p('<!doctype html>');
  p('<html lang="en"><head><meta charset="utf-8">');
  p(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`);
  p(`<title>Run report: ${esc(r.name)} (${esc(r.runId)})</title><style>${STYLE}</style></head><body>`);
  p(`<h1>Run report: ${esc(r.name)}</h1>`);
  p('<table>');
  for (const [k, v] of summaryRows(r)) p(`<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`);
  p('</table>');

  p(
    '<h2>Tasks</h2><table><tr><th>Task</th><th>State</th><th>Attempts</th><th>Time</th><th>Usage</th><th>Reason</th></tr>',
  );
  for (const t of r.tasks) {
    p(
      `<tr><td><code>${esc(t.id)}</code></td><td class="${esc(t.state)}">${esc(t.state)}</td>` +
        `<td class="n">${t.attempts.length}</td><td class="n">${esc(taskTime(t))}</td>` +
        `<td class="n">${esc(usageText(taskUsage(t)))}</td><td>${esc(t.reason ?? '')}</td></tr>`,
    );
  }
  p('</table>');

  p('<h2>Critical path</h2>');
  p(
    r.criticalPath.length === 0
      ? '<p>No task ran.</p>'
      : `<p>${r.criticalPath.map((id) => `<code>${esc(id)}</code>`).join(' → ')}</p>`,
  );

  p('<h2>Timeline</h2>');
  if (r.timeline.length === 0) p('<p>Nothing happened yet.</p>');
  else {
    p('<ol class="timeline">');
    for (const e of r.timeline)
      p(
        `<li><code>${esc(clock(e.at, r.startedAt))}</code> ${esc(e.text)} <span class="seq">seq ${e.seq}</span></li>`,
      );
    p('</ol>');
  }

  p('<h2>Failures</h2>');
  if (r.failures.length === 0) p('<p>None.</p>');
  for (const f of r.failures) {
    const gate = f.gate === undefined ? '' : ` (${f.gate} gate ${f.gateIndex ?? 0})`;
    p(
      `<h3><code>${esc(f.taskId)}</code> #${f.attempt}${esc(gate)}: ${f.final ? 'failed for good' : 'retried'}</h3>`,
    );
    p(`<p>${esc(f.reason)}</p>`);
    if (f.output) p(`<pre>${esc(f.output)}</pre>`);
  }

  p('<h2>Retries</h2>');
  if (r.retries.length === 0) p('<p>None.</p>');
  else {
    p('<ul>');
    for (const x of r.retries) {
      p(
        `<li><code>${esc(x.taskId)}</code> #${x.attempt} → #${x.nextAttempt} after ${x.delayMs} ms: ${esc(x.reason)}` +
          (x.feedback ? `<pre>${esc(x.feedback)}</pre>` : '') +
          '</li>',
      );
    }
    p('</ul>');
  }

  p('<h2>Approvals</h2>');
  if (r.approvals.length === 0) p('<p>None.</p>');
  else {
    p('<table><tr><th>Task</th><th>Attempt</th><th>Decision</th><th>By</th><th>Comment</th><th>At</th></tr>');
    for (const a of r.approvals) {
      p(
        `<tr><td><code>${esc(a.taskId)}</code></td><td class="n">${a.attempt}</td>` +
          `<td>${esc(a.final ? `${a.decision} (final)` : a.decision)}</td><td>${esc(a.by)}</td>` +
          `<td>${esc(a.comment ?? '')}</td><td>${esc(a.at)}</td></tr>`,
      );
    }
    p('</table>');
  }

  p('<h2>Rollbacks, cancels and retries</h2>');
  const steps = interventionSteps(r);
  if (steps.length === 0) p('<p>None.</p>');
  else {
    p('<ul>');
    for (const s of steps)
      p(
        `<li><code>${esc(clock(s.at, r.startedAt))}</code> ${esc(s.text)} <span class="seq">seq ${s.seq}</span></li>`,
      );
    p('</ul>');
  }

  p('<h2>Anomalies</h2>');
  if (r.anomalies.length === 0) p('<p>None.</p>');
  else {
    p('<table><tr><th>Kind</th><th>Task</th><th>Attempt</th><th>Seq</th><th>Detail</th></tr>');
    for (const a of r.anomalies) {
      p(
        `<tr><td>${esc(a.kind)}</td><td>${esc(a.taskId ?? '')}</td><td class="n">${a.attempt ?? ''}</td>` +
          `<td class="n">${a.seq}</td><td>${esc(a.detail)}</td></tr>`,
      );
    }
    p('</table>');
  }
  p('</body></html>');
  return parts.join('\n') + '\n';
}

/** HTML text and attribute values: the five characters that could end either. */
function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// ---------- shared ----------

/** Rollbacks, cancels and task retries, in log order, as plain sentences. */
function interventionSteps(r: RunReport): { seq: number; at: string; text: string }[] {
  const by = (who: string | undefined): string => (who === undefined ? '' : ` by ${who}`);
  return [
    ...r.rollbacks.map((b) => ({
      seq: b.seq,
      at: b.at,
      text:
        `rollback to ${b.toEvent === undefined ? `task ${b.task ?? ''}` : `event ${b.toEvent}`}${by(b.by)}: ` +
        `${b.tasks.join(', ') || 'no tasks'} returned to pending` +
        (b.cancelled.length === 0
          ? ''
          : `; cancelled ${b.cancelled.map((c) => `${c.task} #${c.attempt}`).join(', ')}`),
    })),
    ...r.interventions.map((i) => ({
      seq: i.seq,
      at: i.at,
      text: `${i.kind}${i.taskId === undefined ? '' : ` of ${i.taskId}`}${by(i.by)}${i.reason ? `: ${i.reason}` : ''}`,
    })),
  ].sort((a, b) => a.seq - b.seq);
}

function summaryRows(r: RunReport): [string, string][] {
  const budget =
    r.budget === undefined
      ? 'none'
      : [
          r.budget.tokens === undefined ? '' : `${r.budget.tokens} tokens`,
          r.budget.usd === undefined ? '' : `$${r.budget.usd}`,
        ]
          .filter(Boolean)
          .join(', ');
  return [
    ['Run', r.runId],
    ['Status', r.reason === undefined ? r.status : `${r.status}: ${r.reason}`],
    ['Submitted', `${r.startedAt}${r.submittedBy === undefined ? '' : ` by ${r.submittedBy}`}`],
    ...(r.forkedFrom === undefined
      ? []
      : ([
          [
            'Forked from',
            `${r.forkedFrom.runId} at event ${r.forkedFrom.atEvent}; carried over: ${r.forkedFrom.carried.join(', ') || 'nothing'}`,
          ],
        ] as [string, string][])),
    ['Ended', r.endedAt ?? 'still running'],
    ['Duration', duration(r.durationMs)],
    ['Usage', `${usageText(r.usage)} (budget: ${budget})`],
    ['Critical path', r.criticalPath.join(' → ') || 'none'],
    ['Failures', String(r.failures.length)],
    ['Anomalies', String(r.anomalies.length)],
    ['Events', `1..${r.seq}`],
  ];
}

function taskUsage(t: ReportTask): Usage {
  let tokens = 0;
  let usd = 0;
  for (const a of t.attempts) {
    tokens += a.usage.tokens;
    usd += a.usage.usd;
  }
  return { tokens, usd: Math.round(usd * 1e9) / 1e9 };
}

/** Time spent in attempts (from dispatch to their end), summed. */
function taskTime(t: ReportTask): string {
  const ms = t.attempts.reduce((sum, a) => sum + attemptMs(a), 0);
  return t.attempts.length === 0 ? '' : duration(ms);
}

function attemptMs(a: ReportAttempt): number {
  const start = Date.parse(a.startedAt ?? a.dispatchedAt);
  const end = a.finishedAt === null ? start : Date.parse(a.finishedAt);
  return Math.max(0, end - start);
}

function usageText(u: Usage): string {
  return `${u.tokens} tokens, $${u.usd.toFixed(u.usd !== 0 && u.usd < 0.01 ? 4 : 2)}`;
}

function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${m - h * 60} min`;
}

/** `HH:MM:SS.mmm` (UTC), with the date when it is not the run's first day. */
function clock(at: string, start: string): string {
  const t = at.slice(11, 23);
  return at.slice(0, 10) === start.slice(0, 10) ? t : `${at.slice(0, 10)} ${t}`;
}
