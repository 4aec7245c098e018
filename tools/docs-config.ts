/**
 * Rewrites README.md's configuration block (between `<!-- config:begin … -->` and
 * `<!-- config:end -->`) from the settings table in libs/config, so the README says what the
 * server reads: `npm run docs:config`. libs/config/src/config-table.spec.ts fails until it is run.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withConfigBlock } from '@rein/config';

// From dist/tools/ as from tools/: the README is at the repository's root.
const readme = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../../README.md' : '../README.md', import.meta.url),
);
const before = readFileSync(readme, 'utf8');
const after = withConfigBlock(before);
if (after === before) {
  process.stdout.write('README.md: the configuration block is up to date\n');
} else {
  writeFileSync(readme, after);
  process.stdout.write('README.md: configuration block rewritten\n');
}
