import { describe, expect, it } from '@jest/globals';
import { sign } from '@octokit/webhooks-methods';
import { createHmac } from 'node:crypto';
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
      status: 403,
      message: expect.stringContaining('no webhookSecret'),
    });
  });
});

describe('checkWebhook (Linear-Signature)', () => {
  const linear = { name: 'lin', kind: 'linear' as const, webhookSecret: 'lin-secret' };
  const hex = (secret: string, text: string) => createHmac('sha256', secret).update(text).digest('hex');
  it('accepts the hex HMAC of the body under the secret, refuses another secret or body', async () => {
    expect(await checkWebhook(linear, body, hex('lin-secret', body))).toEqual({ ok: true });
    expect(await checkWebhook(linear, body, hex('other', body))).toMatchObject({
      status: 401,
      message: expect.stringContaining('Linear-Signature does not match'),
    });
    expect(await checkWebhook(linear, `${body} `, hex('lin-secret', body))).toMatchObject({ status: 401 });
    expect(await checkWebhook(linear, body, 'not hex')).toMatchObject({ status: 401 });
    expect(await checkWebhook(linear, body, undefined)).toMatchObject({
      status: 401,
      message: 'Linear-Signature is missing',
    });
  });
});
