import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Controller, type INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, MessagePattern, RpcException } from '@nestjs/microservices';
import type { DispatchAttempt, EvaluateGate, PoolSettings } from '@rein/contracts';
import {
  type AttemptDelivery,
  type AttemptDispatcher,
  type ServedReply,
  type Transport,
  UnknownPoolError,
  type WorkConsumer,
} from '@rein/transport';
import { eventually } from './event-store.contract.js';

export interface TransportUnderTest {
  readonly transport: Transport;
  /** What a client of a served subject does (outside Rein, over NATS): text and headers out, status and body back. */
  callServed(subject: string, text: string, headers?: Readonly<Record<string, string>>): Promise<ServedReply>;
  cleanup(): Promise<void>;
}

/** Why a promise rejected (fails the test when it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection, got a value');
}

function messageOf(e: unknown): string {
  return typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : String(e);
}

const pool = (name: string, capacity = 2): PoolSettings => ({
  name,
  labels: ['local'],
  capacity,
  backend: 'local',
});

/** A dispatched `noop` attempt of run `run-1`, for work-queue tests. */
export function dispatchedAttempt(poolName: string, taskId: string, n = 1): DispatchAttempt {
  return {
    runId: 'run-1',
    runName: 'dispatch test',
    labels: {},
    taskId,
    attempt: n,
    pool: poolName,
    priority: 0,
    agentName: 'n',
    agent: {
      runtime: 'noop',
      env: {},
      secrets: [],
      network: { allow: [] },
      limits: { cpuSeconds: 60, memoryMb: 256, pids: 64, fileSizeMb: 16 },
      hooks: { timeoutMs: 1000 },
    },
    prompt: 'p',
    feedback: '',
    upstream: [],
    restart: true,
    timeoutMs: 60_000,
  };
}

function gate(taskId: string, request?: number): EvaluateGate {
  const a = dispatchedAttempt('verifier', taskId);
  return {
    runId: a.runId,
    taskId,
    attempt: 1,
    gate: 0,
    ...(request === undefined ? {} : { request }),
    spec: { approval: {} },
    pool: a.pool,
    agentName: a.agentName,
    agent: a.agent,
    prompt: a.prompt,
    summary: null,
    snapshot: null,
  };
}

interface Seen<T> {
  readonly message: T;
  readonly delivery: AttemptDelivery;
}

async function eventuallyAnswered(call: () => Promise<unknown>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await call();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** A Nest application of handlers, served by the transport's own handler server. */
async function handlersOn(
  transport: Transport,
  events: unknown[] = [],
  slowUntil: Promise<void> = Promise.resolve(),
): Promise<INestMicroservice> {
  @Controller()
  class ContractHandlers {
    @MessagePattern('contract.echo')
    echo(data: unknown): unknown {
      return { echoed: data };
    }

    @MessagePattern('contract.refuse')
    refuse(): never {
      throw new RpcException({ code: 'refused', message: 'refused by the handler' });
    }

    @MessagePattern('contract.slow')
    async slow(): Promise<string> {
      await slowUntil;
      return 'late';
    }

    @EventPattern('contract.happened')
    happened(data: unknown): void {
      events.push(data);
    }
  }
  @Module({ controllers: [ContractHandlers] })
  class ContractModule {}
  const app = await NestFactory.createMicroservice(ContractModule, {
    strategy: transport.handlerServer('rein-contract'),
    logger: false,
  });
  await app.listen();
  // Over a network the handler server's subscriptions reach the server a little later: once one
  // answers, the ones sent with it are in place too.
  await eventuallyAnswered(() => transport.request('contract.echo', {}, 1000));
  return app;
}

/**
 * The transport port's contract (libs/transport/src/transport.port.ts): every adapter runs this
 * suite against a fresh transport from `factory`. It covers what both adapters promise; what only
 * one promises (JetStream's survival of a restart, redelivery after ack wait) has its own tests.
 */
export function describeTransportContract(name: string, factory: () => Promise<TransportUnderTest>): void {
  describe(`${name} honours the transport contract`, () => {
    let subject: TransportUnderTest;
    let transport: Transport;
    const consumers: WorkConsumer[] = [];
    let app: INestMicroservice | undefined;

    beforeEach(async () => {
      subject = await factory();
      transport = subject.transport;
    });
    afterEach(async () => {
      for (const c of consumers.splice(0)) await c.close();
      await app?.close();
      app = undefined;
      await subject.cleanup();
    });

    describe('request-reply', () => {
      it('answers a request from a handler, the payload crossing as JSON', async () => {
        app = await handlersOn(transport);
        const reply = await transport.request('contract.echo', { n: 1, at: new Date(0), gone: undefined });
        expect(reply).toEqual({ echoed: { n: 1, at: '1970-01-01T00:00:00.000Z' } });
      });

      it("rejects with the handler's error", async () => {
        app = await handlersOn(transport);
        const e = await rejection(transport.request('contract.refuse', {}));
        expect(messageOf(e)).toContain('refused by the handler');
      });

      it('rejects a request nobody answers, and one not answered in time', async () => {
        let release!: () => void;
        app = await handlersOn(transport, [], new Promise<void>((resolve) => (release = resolve)));
        await rejection(transport.request('contract.nobody', {}, 1000));
        const started = Date.now();
        await rejection(transport.request('contract.slow', {}, 300));
        expect(Date.now() - started).toBeGreaterThanOrEqual(250);
        release();
      });
    });

    describe('events', () => {
      it('delivers a published event to matching subscriptions and to event handlers', async () => {
        const events: unknown[] = [];
        app = await handlersOn(transport, events);
        const one: [unknown, string][] = [];
        const rest: [unknown, string][] = [];
        const offOne = transport.subscribe('contract.ev.*', (d, s) => one.push([d, s]));
        const offRest = transport.subscribe('contract.>', (d, s) => rest.push([d, s]));
        transport.publish('contract.ev.a', { n: 1 });
        transport.publish('contract.happened', [{ seq: 1 }, { seq: 2 }]);
        await eventually(() => one.length === 1 && rest.length === 2 && events.length === 1, 'the events');
        expect(one).toEqual([[{ n: 1 }, 'contract.ev.a']]);
        expect(rest.map(([, s]) => s)).toEqual(['contract.ev.a', 'contract.happened']);
        expect(events).toEqual([[{ seq: 1 }, { seq: 2 }]]);
        offOne();
        offRest();
      });

      it('stops delivering to a subscription once it is unsubscribed', async () => {
        const gone: unknown[] = [];
        const kept: unknown[] = [];
        const off = transport.subscribe('contract.ev.b', (d) => gone.push(d));
        const offKept = transport.subscribe('contract.ev.b', (d) => kept.push(d));
        transport.publish('contract.ev.b', 1);
        await eventually(() => gone.length === 1 && kept.length === 1, 'the first event');
        off();
        transport.publish('contract.ev.b', 2);
        await eventually(() => kept.length === 2, 'the second event');
        expect(gone).toEqual([1]);
        offKept();
      });
    });

    describe('serving', () => {
      it('answers a served subject with the status and body, the text and headers as sent', async () => {
        const off = transport.serve('contract.served', {
          queue: 'rein-contract',
          handler: (req) =>
            Promise.resolve({
              status: 201,
              body: JSON.stringify({
                subject: req.subject,
                text: req.text,
                exact: req.header('Authorization') ?? null,
                insensitive: req.header('authorization', 'insensitive') ?? null,
              }),
            }),
          onReplyError: () => undefined,
        });
        const reply = await subject.callServed('contract.served', 'hello', { Authorization: 'Bearer t' });
        expect(reply.status).toBe(201);
        expect(JSON.parse(reply.body)).toEqual({
          subject: 'contract.served',
          text: 'hello',
          exact: 'Bearer t',
          insensitive: 'Bearer t',
        });
        off();
        await rejection(subject.callServed('contract.served', 'again'));
      });

      it('sends a reply larger than one message whole', async () => {
        const big = 'x'.repeat(3 * 1024 * 1024);
        const off = transport.serve('contract.big', {
          queue: 'rein-contract',
          handler: () => Promise.resolve({ status: 200, body: big }),
          onReplyError: () => undefined,
        });
        const reply = await subject.callServed('contract.big', '');
        expect(reply.status).toBe(200);
        expect(reply.body.length).toBe(big.length);
        off();
      });
    });

    describe('work queues', () => {
      /** Nothing is left of what came before: a new consumer gets only what is dispatched after it. */
      async function expectOnlyLaterAttempts(p: PoolSettings, dispatcher: AttemptDispatcher): Promise<void> {
        const later: string[] = [];
        consumers.push(
          await transport.attempts(p, {
            handler: (m) => {
              later.push(m.taskId);
              return Promise.resolve();
            },
          }),
        );
        await dispatcher.dispatch(p.name, dispatchedAttempt(p.name, 'later'));
        await eventually(() => later.includes('later'), 'the later attempt', 10_000);
        expect(later).toEqual(['later']);
      }

      it('keeps a dispatched attempt until a consumer opens, queues one id once, and an ack removes it', async () => {
        const p = pool('contract-a');
        const dispatcher = await transport.dispatcher([p]);
        const first = await dispatcher.dispatch(p.name, dispatchedAttempt(p.name, 't1'));
        expect(first.duplicate).toBe(false);
        expect((await dispatcher.dispatch(p.name, dispatchedAttempt(p.name, 't1'))).duplicate).toBe(true);
        const seen: Seen<DispatchAttempt>[] = [];
        const c1 = await transport.attempts(p, {
          handler: (message, delivery) => {
            seen.push({ message, delivery });
            return Promise.resolve();
          },
        });
        consumers.push(c1);
        await eventually(() => seen.length === 1, 'the first delivery', 10_000);
        expect(seen[0]!.message).toEqual(dispatchedAttempt(p.name, 't1'));
        expect(seen[0]!.delivery).toMatchObject({ redelivered: false, deliveryCount: 1 });
        await eventually(() => c1.inFlight === 0, 'the ack');
        await c1.close();
        // Acked, so a later consumer gets only what comes after it.
        await expectOnlyLaterAttempts(p, dispatcher);
      });

      it('delivers again, marked redelivered, an attempt whose handler rejected', async () => {
        const p = pool('contract-b');
        const dispatcher = await transport.dispatcher([p]);
        const seen: AttemptDelivery[] = [];
        consumers.push(
          await transport.attempts(p, {
            retryDelayMs: 50,
            handler: (_m, delivery) => {
              seen.push(delivery);
              return seen.length === 1 ? Promise.reject(new Error('not yet')) : Promise.resolve();
            },
          }),
        );
        await dispatcher.dispatch(p.name, dispatchedAttempt(p.name, 't1'));
        await eventually(() => seen.length === 2, 'the redelivery', 10_000);
        expect(seen.map((d) => [d.redelivered, d.deliveryCount])).toEqual([
          [false, 1],
          [true, 2],
        ]);
      });

      it('gives back on close what a handler has not settled, to the next consumer', async () => {
        const p = pool('contract-c');
        const dispatcher = await transport.dispatcher([p]);
        let held = 0;
        const c1 = await transport.attempts(p, {
          handler: () => {
            held++;
            return new Promise<void>(() => undefined);
          },
        });
        await dispatcher.dispatch(p.name, dispatchedAttempt(p.name, 't1'));
        await eventually(() => held === 1, 'the first delivery', 10_000);
        expect(c1.inFlight).toBe(1);
        await c1.close();
        const again: Seen<DispatchAttempt>[] = [];
        consumers.push(
          await transport.attempts(p, {
            handler: (message, delivery) => {
              again.push({ message, delivery });
              return Promise.resolve();
            },
          }),
        );
        await eventually(() => again.length === 1, 'the attempt given back', 10_000);
        // Not its delivery count: JetStream counts the next delivery of the last message a
        // consumer was given and NAKed as a first one (the server rewinds the consumer).
        expect(again[0]!.message.taskId).toBe('t1');
        expect(again[0]!.delivery.streamSequence).toBe(1);
      });

      it('acks what was handed over before stop once its handler resolves', async () => {
        const p = pool('contract-d');
        const dispatcher = await transport.dispatcher([p]);
        let finish: (() => void) | undefined;
        const c1 = await transport.attempts(p, {
          handler: () => new Promise<void>((resolve) => (finish = resolve)),
        });
        await dispatcher.dispatch(p.name, dispatchedAttempt(p.name, 't1'));
        await eventually(() => finish !== undefined, 'the delivery', 10_000);
        await c1.stop();
        expect(c1.inFlight).toBe(1);
        finish!();
        await eventually(() => c1.inFlight === 0, 'the ack');
        await c1.close();
        await expectOnlyLaterAttempts(p, dispatcher);
      });

      it('refuses an attempt for a pool it was not opened for', async () => {
        const dispatcher = await transport.dispatcher([pool('contract-e')]);
        const e = await rejection(dispatcher.dispatch('elsewhere', dispatchedAttempt('elsewhere', 't1')));
        expect(e).toBeInstanceOf(UnknownPoolError);
      });

      it('hands gate requests to a verifier; a re-request is a new message, a repeat is not', async () => {
        const requests = await transport.gateRequests();
        expect((await requests.request(gate('g1'))).duplicate).toBe(false);
        expect((await requests.request(gate('g1'))).duplicate).toBe(true);
        expect((await requests.request(gate('g1', 2))).duplicate).toBe(false);
        const seen: EvaluateGate[] = [];
        consumers.push(
          await transport.gates({
            handler: (m) => {
              seen.push(m);
              return Promise.resolve();
            },
          }),
        );
        await eventually(() => seen.length === 2, 'both gate requests', 10_000);
        expect(seen.map((g) => g.request ?? 1)).toEqual([1, 2]);
      });
    });
  });
}
