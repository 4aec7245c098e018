import { describe, expect, it } from '@jest/globals';
import { sign } from '@octokit/webhooks-methods';
import { checkWebhook } from './intake.webhook.js';

const gh = { name: 'gh', kind: 'github' as const, webhookSecret: 'whsec-local' };
const body = JSON.stringify({ action: 'labeled', issue: { number: 1 } });

describe('checkWebhook (GitHub X-Hub-Signature-256)', () => {
  it('accepts the body signed with the configured secret', async () => {
    expect(await checkWebhook(gh, body, await sign('whsec-local', body))).toEqual({ ok: true });
  });
  it('refuses another secret, a changed body, a missing signature, and no secret configured', async () => {
    const other = await checkWebhook(gh, body, await sign('other', body));
    expect(other).toEqual({ ok: false, status: 401, message: expect.stringContaining('does not match') });
    const changed = await checkWebhook(gh, `${body} `, await sign('whsec-local', body));
    expect(changed.ok).toBe(false);
    expect(await checkWebhook(gh, body, undefined)).toMatchObject({
      status: 401,
      message: expect.stringContaining('missing'),
    });
    expect(await checkWebhook({ name: 'gh', kind: 'github' }, body, 'sha256=00')).toMatchObject({
      status: 401,
      message: expect.stringContaining('no webhookSecret'),
    });
  });
});
