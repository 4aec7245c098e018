import { describe, expect, it } from '@jest/globals';
import { StallWatchdog, stallReason } from './stall.watchdog.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('StallWatchdog', () => {
  it('fires once after stallMs without a touch', async () => {
    let fired = 0;
    const w = new StallWatchdog(50, () => fired++);
    await sleep(150);
    expect(fired).toBe(1);
    w.stop();
  });

  it('does not fire while the agent keeps printing, and fires once it goes silent', async () => {
    let fired = 0;
    const w = new StallWatchdog(80, () => fired++);
    for (let i = 0; i < 8; i++) {
      await sleep(20);
      w.touch();
    }
    expect(fired).toBe(0);
    await sleep(200);
    expect(fired).toBe(1);
    w.stop();
  });

  it('never fires when off (0) or stopped', async () => {
    let fired = 0;
    const off = new StallWatchdog(0, () => fired++);
    const stopped = new StallWatchdog(30, () => fired++);
    stopped.stop();
    await sleep(100);
    expect(fired).toBe(0);
    off.stop();
  });

  it('says the reason in minutes or seconds', () => {
    expect(stallReason(300_000)).toBe('stalled: no output for 5 min');
    expect(stallReason(1500)).toBe('stalled: no output for 1.5 s');
  });
});
