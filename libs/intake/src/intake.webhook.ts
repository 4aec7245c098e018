import { verify } from '@octokit/webhooks-methods';
import type { TrackerConfig } from './intake.config.js';

export type WebhookCheck = { ok: true } | { ok: false; status: 401; message: string };

/**
 * Checks a tracker webhook before it triggers a poll: for GitHub, X-Hub-Signature-256 is the
 * HMAC-SHA256 of the raw body under the secret the intake config names (webhookSecret).
 */
export async function checkWebhook(
  config: Pick<TrackerConfig, 'name' | 'kind' | 'webhookSecret'>,
  rawBody: string,
  signature: string | undefined,
): Promise<WebhookCheck> {
  if (config.webhookSecret === undefined) {
    return {
      ok: false,
      status: 401,
      message: `tracker ${config.name} has no webhookSecret in the intake config`,
    };
  }
  if (signature === undefined || signature === '') {
    return { ok: false, status: 401, message: 'X-Hub-Signature-256 is missing' };
  }
  const good = await verify(config.webhookSecret, rawBody, signature).catch(() => false);
  return good
    ? { ok: true }
    : {
        ok: false,
        status: 401,
        message: 'X-Hub-Signature-256 does not match the body under the webhook secret',
      };
}
