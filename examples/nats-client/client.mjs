// Rein's API over NATS with nats.js alone: submit a run, follow its events, read it back.
//   rein up --transport nats --nats-url nats://127.0.0.1:4222      (or the four services apart)
//   REIN_NATS_URL=nats://127.0.0.1:4222 node examples/nats-client/client.mjs
// Payloads and the error envelope are the HTTP API's; the HTTP status is the `Rein-Status` header.
import { connect } from '@nats-io/transport-node';

const nc = await connect({ servers: process.env.REIN_NATS_URL ?? 'nats://127.0.0.1:4222' });
const call = async (subject, payload) => {
  const m = await nc.request(subject, typeof payload === 'string' ? payload : JSON.stringify(payload), {
    timeout: 10_000,
  });
  return { status: Number(m.headers?.get('Rein-Status')), body: m.json() };
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
