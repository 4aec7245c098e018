import { parentPort } from 'node:worker_threads';
import { parseSpecText } from '@rein/contracts';

// Parses YAML specs for SpecReader, off the server's event loop: one message in, one answer out.
parentPort?.on('message', (m: { readonly id: number; readonly text: string }) => {
  parentPort?.postMessage({ id: m.id, result: parseSpecText(m.text, 'yaml') });
});
