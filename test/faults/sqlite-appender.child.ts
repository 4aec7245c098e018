/**
 * Child process of sqlite-durability.fault.spec.ts, run compiled (see that spec): appends batches
 * of 10 events to one stream with synchronous=FULL until killed, and prints `<batch> <position>`
 * for each batch the store has acknowledged. It resumes after the batches already stored, so the
 * parent can kill it, check the file, and start it again.
 */
import { SqliteEventStore } from '../../libs/event-store/src/index.js';

const STREAM = 'run-durability';
const BATCH = 10;

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: node sqlite-appender.child.js <database file>\n');
  process.exit(2);
}

const store = new SqliteEventStore({ path, synchronous: 'FULL' });
let version = await store.streamVersion(STREAM);
for (let batch = version / BATCH + 1; ; batch++) {
  const events = Array.from({ length: BATCH }, (_, i) => ({
    id: `batch-${batch}:event-${i + 1}`,
    type: 'DurabilityProbe',
    data: { batch, index: i + 1, padding: 'x'.repeat(200) },
  }));
  const result = await store.append(STREAM, events, version);
  version = result.nextVersion;
  // Written synchronously to a pipe on Linux, so a printed batch was acknowledged before the next.
  process.stdout.write(`${batch} ${result.lastGlobalPosition}\n`);
}
