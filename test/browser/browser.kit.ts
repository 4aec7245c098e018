/**
 * What a browser suite needs besides its server: Debian's Chromium (skipped with the reason when
 * it is missing), the inspector bundle built from the tree as it is now, and screenshots into
 * docs/ when REIN_TEST_SCREENSHOTS names the folder. See ../shared/TOOLCHAIN.md for the flags.
 */
import { describe } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { CHROMIUM } from '@rein/testing';

export { CHROMIUM, launchChromium } from '@rein/testing';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CHROMIUM_FOUND = existsSync(CHROMIUM);

/** `describe`, or `describe.skip` saying why when Chromium is not installed. */
export function browserSuite(what: string): typeof describe | typeof describe.skip {
  if (CHROMIUM_FOUND) return describe;
  console.warn(`${what} browser tests skipped: ${CHROMIUM} is missing (./scripts/setup.sh installs it)`);
  return describe.skip;
}

/** `vite build apps/inspector`: the page as the tree is now, not a stale bundle. */
export async function buildInspector(): Promise<void> {
  await promisify(execFile)(
    process.execPath,
    [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', 'apps/inspector', '--logLevel', 'warn'],
    { cwd: ROOT },
  );
}

/** With REIN_TEST_SCREENSHOTS=docs, the whole page to docs/inspector-<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  const folder = process.env.REIN_TEST_SCREENSHOTS;
  if (folder) await page.screenshot({ path: join(ROOT, folder, `inspector-${name}.png`), fullPage: true });
}
