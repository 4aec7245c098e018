// Rein's API over NATS with nats.js alone: submit a run, follow its events, read it back.
//   rein up --transport nats --nats-url nats://127.0.0.1:4222      (or the four services apart)
//   REIN_NATS_URL=nats://127.0.0.1:4222 node examples/nats-client/client.mjs
// Payloads and the error envelope are the HTTP API's; the HTTP status is the `Rein-Status` header.
// A reply larger than one NATS message comes as messages with `Rein-Chunk: i/n` (1-based) on the
// request's inbox: concatenate their bytes in order. With deploy/nats/rein-auth.conf, connect as
// the API user: REIN_NATS_USER=rein-api REIN_NATS_PASS=….
import { connect, createInbox } from '@nats-io/transport-node';

const nc = await connect({
  servers: process.env.REIN_NATS_URL ?? 'nats://127.0.0.1:4222',
  ...(process.env.REIN_NATS_USER
    ? { user: process.env.REIN_NATS_USER, pass: process.env.REIN_NATS_PASS }
    : {}),
});
const call = async (subject, payload) => {
  const inbox = createInbox();
  const sub = nc.subscribe(inbox, { timeout: 10_000 });
  nc.publish(subject, typeof payload === 'string' ? payload : JSON.stringify(payload), { reply: inbox });
  const parts = [];
  let status = 0;
  for await (const m of sub) {
    status ||= Number(m.headers?.get('Rein-Status'));
    parts.push(m.data);
    const [i, n] = (m.headers?.get('Rein-Chunk') || '1/1').split('/').map(Number);
    if (i !== parts.length) throw new Error(`${subject}: chunk ${parts.length}/${n} missing`);
    if (i === n) break;
  }
  sub.unsubscribe();
  return { status, body: JSON.parse(Buffer.concat(parts).toString('utf8')) };
};

const spec = {
  apiVersion: 'rein/v1',
  kind: 'Run',
  metadata: { name: 'nats-client-example' },
  spec: {
    defaults: { agent: 'n' },
    agents: { n: { runtime: 'noop' } },
    tasks: [
      { id: 'a', prompt: 'first' },
      { id: 'b', prompt: 'second', dependsOn: ['a'] },
    ],
  },
};
const submitted = await call('rein.v1.runs.submit', spec);
console.log('submit', submitted.status, submitted.body.runId);
const runId = submitted.body.runId;

// Live events are published as JSON arrays on rein.v1.events.<runId>.
const done = new Promise((resolve) => {
  const sub = nc.subscribe(`rein.v1.events.${runId}`);
  void (async () => {
    for await (const msg of sub) {
      for (const e of msg.json()) {
        console.log(`  ${e.seq} ${e.type} ${e.taskId ?? ''}`);
        if (e.type === 'RunCompleted') resolve(e.data.status);
      }
    }
  })();
});
// Events appended before the subscription started: read them with rein.v1.runs.events.
const early = await call('rein.v1.runs.events', { runId, after: 0 });
console.log(`read ${early.body.events.length} events so far`);
const status = await Promise.race([done, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]);
const view = await call('rein.v1.runs.get', { runId });
console.log('run', view.status, view.body.status, `(RunCompleted: ${status})`);
const missing = await call('rein.v1.runs.get', { runId: 'no-such-run' });
console.log('unknown run', missing.status, missing.body.error.code);
await nc.drain();
