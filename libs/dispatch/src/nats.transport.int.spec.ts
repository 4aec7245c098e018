import { type NatsConnection, connect, headers as natsHeaders } from '@nats-io/transport-node';
import { describeTransportContract, startNatsServer } from '@rein/testing';
import { requestWhole } from '@rein/transport';
import { natsTransport } from './index.js';

/*
 * The NATS adapter of the transport port, with its JetStream work queues, against the shared
 * contract on a real nats-server. Each test gets a server of its own: the work-queue streams and
 * the gate queue's consumer have fixed names, so nothing may be left from the test before.
 */
describeTransportContract('NatsTransport (JetStream work queues)', async () => {
  const server = await startNatsServer();
  const nc: NatsConnection = await connect({ servers: server.url });
  const transport = natsTransport({
    connection: nc,
    dispatch: { ackWaitMs: 2000, maxDeliver: 10 },
    handlers: { servers: server.url },
  });
  return {
    transport,
    callServed: async (subject, text, headers = {}) => {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(headers)) h.set(k, v);
      // On the transport's connection, so the request follows its subscriptions (a client of its
      // own would race them).
      const reply = await requestWhole(nc, subject, text, { timeoutMs: 5000, headers: h });
      return {
        status: Number(reply.headers?.get('Rein-Status') ?? '0'),
        body: new TextDecoder().decode(reply.data),
      };
    },
    cleanup: async () => {
      await nc.close();
      await server.stop();
    },
  };
});
