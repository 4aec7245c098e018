import { verify } from '@octokit/webhooks-methods';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { TrackerConfig } from './intake.config.js';

export type WebhookCheck = { ok: true } | { ok: false; status: 401 | 403; message: string };

/** The header each tracker signs its webhooks in. */
export const SIGNATURE_HEADER = { github: 'x-hub-signature-256', linear: 'linear-signature' } as const;

/**
 * Checks a tracker webhook before it triggers a poll. GitHub: X-Hub-Signature-256 is
 * `sha256=` and the HMAC-SHA256 of the raw body under the secret the intake config names
 * (webhookSecret); Linear: Linear-Signature is the HMAC-SHA256 in hex. A tracker without a
 * webhookSecret takes no webhooks (403): polling still finds its issues.
 */
export async function checkWebhook(
  config: Pick<TrackerConfig, 'name' | 'kind' | 'webhookSecret'>,
  rawBody: string,
  signature: string | undefined,
): Promise<WebhookCheck> {
  const header = config.kind === 'github' ? 'X-Hub-Signature-256' : 'Linear-Signature';
  if (config.webhookSecret === undefined) {
    return {
      ok: false,
      status: 403,
      message: `tracker ${config.name} has no webhookSecret in the intake config, so it takes no webhooks`,
    };
  }
  if (signature === undefined || signature === '') {
    return { ok: false, status: 401, message: `${header} is missing` };
  }
  const good =
    config.kind === 'github'
      ? await verify(config.webhookSecret, rawBody, signature).catch(() => false)
      : hexHmacMatches(config.webhookSecret, rawBody, signature);
  return good
    ? { ok: true }
    : { ok: false, status: 401, message: `${header} does not match the body under the webhook secret` };
}

function hexHmacMatches(secret: string, body: string, signature: string): boolean {
  const want = createHmac('sha256', secret).update(body).digest();
  const got = Buffer.from(signature.trim(), 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}
