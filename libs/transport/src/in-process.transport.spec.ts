import { describeTransportContract } from '@rein/testing';
import { InProcessTransport } from './in-process.transport.js';

/* The in-process adapter of the transport port (embedded mode) against the shared contract. */
describeTransportContract('InProcessTransport', () => {
  const transport = new InProcessTransport();
  return Promise.resolve({
    transport,
    callServed: (subject, text, headers) => transport.callServed(subject, text, headers),
    cleanup: () => Promise.resolve(),
  });
});
