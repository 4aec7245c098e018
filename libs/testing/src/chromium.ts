import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium (`./scripts/setup.sh` installs it; see ../shared/TOOLCHAIN.md). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless Chromium with a fresh profile (playwright gives each launch its own); without the
 * background-networking flags it keeps trying the closed network. Jest-free, so bench/ can use it.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
