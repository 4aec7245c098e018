import { describeEventStoreContract } from '@rein/testing';
import { InMemoryEventStore } from './in-memory.event-store.js';

describeEventStoreContract('InMemoryEventStore', () => {
  const store = new InMemoryEventStore();
  return Promise.resolve({ store, cleanup: () => store.close() });
});
