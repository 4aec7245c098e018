import { describe, expect, it } from '@jest/globals';
import { describeTransportContract, dispatchedAttempt, eventually } from '@rein/testing';
import { InProcessTransport } from './in-process.transport.js';
import { InProcessWorkQueues } from './in-process.work-queues.js';

/* The in-process adapter of the transport port (embedded mode) against the shared contract. */
describeTransportContract('InProcessTransport', () => {
  const transport = new InProcessTransport();
  return Promise.resolve({
    transport,
    callServed: (subject, text, headers) => transport.callServed(subject, text, headers),
    cleanup: () => Promise.resolve(),
  });
});

/* What only the in-process work queues promise (see InProcessWorkQueues). */
describe('InProcessWorkQueues', () => {
  const pool = { name: 'p', labels: ['local'], capacity: 1, backend: 'local' as const };

  it('hands every waiting attempt over at once, whatever the pool capacity: the pool orders them', async () => {
    const queues = new InProcessWorkQueues();
    const dispatcher = await queues.dispatcher([pool]);
    for (const t of ['a', 'b', 'c']) await dispatcher.dispatch('p', dispatchedAttempt('p', t));
    const held: string[] = [];
    const c = await queues.attempts(pool, {
      handler: (m) => {
        held.push(m.taskId);
        return new Promise<void>(() => undefined);
      },
    });
    await eventually(() => held.length === 3, 'three deliveries');
    expect(held).toEqual(['a', 'b', 'c']);
    expect(c.inFlight).toBe(3);
  });

  it('stops after maxDeliver deliveries of a message whose handler keeps failing, and says so', async () => {
    const queues = new InProcessWorkQueues({ maxDeliver: 2 });
    const dispatcher = await queues.dispatcher([pool]);
    const deliveries: number[] = [];
    const logged: string[] = [];
    await queues.attempts(pool, {
      retryDelayMs: 10,
      log: (level, msg) => logged.push(`${level}: ${msg}`),
      handler: (_m, d) => {
        deliveries.push(d.deliveryCount);
        return Promise.reject(new Error('never'));
      },
    });
    await dispatcher.dispatch('p', dispatchedAttempt('p', 'a'));
    await eventually(() => logged.some((l) => l.startsWith('error:')), 'the last delivery');
    expect(deliveries).toEqual([1, 2]);
    // No longer held: the same attempt may be queued again.
    expect((await dispatcher.dispatch('p', dispatchedAttempt('p', 'a'))).duplicate).toBe(false);
  });
});
