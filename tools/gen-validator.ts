/**
 * Writes libs/contracts/src/run-spec.validator.generated.ts from the run spec's schema:
 * `npm run gen:validator`, after any change to run-spec.schema.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runSpecValidatorSource } from '@rein/contracts';

// From dist/tools/ as from tools/: the source tree is at the repository's root.
const target = fileURLToPath(
  new URL(
    `${import.meta.url.includes('/dist/') ? '../../' : '../'}libs/contracts/src/run-spec.validator.generated.ts`,
    import.meta.url,
  ),
);
const next = runSpecValidatorSource();
let before = '';
try {
  before = readFileSync(target, 'utf8');
} catch {
  // first run
}
if (before === next) process.stdout.write(`${target}: up to date\n`);
else {
  writeFileSync(target, next);
  process.stdout.write(`${target}: rewritten\n`);
}
