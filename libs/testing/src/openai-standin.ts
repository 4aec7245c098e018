import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server on 127.0.0.1 that speaks OpenAI's chat-completions wire format, scripted per
 * request, so LLM clients are tested through their real SDK (DESIGN.md: "An LLM API is reached
 * only through its real HTTP client; tests point it at a local server that speaks the provider's
 * wire format").
 */

/** One scripted answer. `delayMs` holds the answer back (to provoke client timeouts). */
export type StandinReply = (
  | { readonly verdict: unknown }
  | { readonly content: string; readonly finishReason?: string }
  | { readonly refusal: string }
  | {
      readonly status: number;
      readonly message?: string;
      readonly type?: string;
      readonly code?: string | null;
    }
  | { readonly emptyChoices: true }
  | { readonly rawBody: string; readonly contentType?: string }
) & {
  readonly delayMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** The completion's `usage` as the API reports it; default 100 prompt and 20 completion tokens. */
  readonly usage?: { readonly prompt: number; readonly completion: number; readonly cached?: number };
};

export type StandinScript = StandinReply | ((request: StandinRequest) => StandinReply);

export interface StandinRequest {
  readonly method: string;
  readonly path: string;
  /** Lower-cased header names, as node:http gives them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The parsed JSON body, or `undefined` when it was not JSON. */
  readonly body: unknown;
  readonly rawBody: string;
}

export interface StandinOptions {
  /** The answer when nothing is queued. Default: HTTP 500 saying no reply was scripted. */
  readonly fallback?: StandinScript;
}

export interface OpenAiStandin {
  /** Base URL for the client, ending in `/v1`. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: StandinRequest[];
  /** Queues answers for the next requests, one each, in order. */
  enqueue(...replies: StandinScript[]): void;
  /** Replaces the answer used when the queue is empty. */
  setFallback(reply: StandinScript): void;
  close(): Promise<void>;
}

/** `content` of a chat message as the SDK sends it: a string, or an array of text parts. */
export function messageText(request: StandinRequest, role: 'system' | 'user' | 'assistant'): string {
  const messages = (request.body as { messages?: { role?: unknown; content?: unknown }[] } | undefined)
    ?.messages;
  if (!Array.isArray(messages)) return '';
  return messages
    .filter((m) => m.role === role)
    .map((m) =>
      typeof m.content === 'string'
        ? m.content
        : Array.isArray(m.content)
          ? m.content.map((p: { text?: unknown }) => (typeof p.text === 'string' ? p.text : '')).join('')
          : '',
    )
    .join('\n');
}

export async function startOpenAiStandin(options: StandinOptions = {}): Promise<OpenAiStandin> {
  const queue: StandinScript[] = [];
  const requests: StandinRequest[] = [];
  let fallback: StandinScript = options.fallback ?? {
    status: 500,
    message: 'openai stand-in: no reply was scripted for this request',
    type: 'server_error',
    headers: { 'x-should-retry': 'false' },
  };
  let served = 0;
  const pending = new Set<NodeJS.Timeout>();

  const server = createServer((req, res) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = rawBody === '' ? undefined : JSON.parse(rawBody);
    } catch {
      body = undefined;
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const request: StandinRequest = {
      method: req.method ?? 'GET',
      path,
      headers: req.headers,
      body,
      rawBody,
    };
    requests.push(request);
    served++;
    const requestId = `req_standin_${served}`;

    if (request.method !== 'POST' || path !== '/v1/chat/completions') {
      sendError(
        res,
        404,
        `openai stand-in: no route ${request.method} ${path}`,
        'invalid_request_error',
        requestId,
      );
      return;
    }
    const model = (body as { model?: unknown } | undefined)?.model;
    if (typeof model !== 'string' || !Array.isArray((body as { messages?: unknown }).messages)) {
      sendError(
        res,
        400,
        "openai stand-in: the body needs 'model' and 'messages'",
        'invalid_request_error',
        requestId,
      );
      return;
    }

    const script = queue.shift() ?? fallback;
    const reply = typeof script === 'function' ? script(request) : script;
    if (reply.delayMs !== undefined && reply.delayMs > 0) {
      const aborted = await delay(reply.delayMs, res);
      if (aborted) return;
    }
    for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
    send(res, reply, model, requestId);
  }

  /** Waits, or stops early when the client hangs up (a timed-out SDK call); true if it hung up. */
  function delay(ms: number, res: ServerResponse): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(timer);
        res.off('close', onClose);
        resolve(false);
      }, ms);
      pending.add(timer);
      const onClose = () => {
        clearTimeout(timer);
        pending.delete(timer);
        resolve(true);
      };
      res.once('close', onClose);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue: (...replies) => {
      queue.push(...replies);
    },
    setFallback: (reply) => {
      fallback = reply;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const timer of pending) clearTimeout(timer);
        pending.clear();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, reply: StandinReply, model: string, requestId: string): void {
  if ('status' in reply) {
    sendError(
      res,
      reply.status,
      reply.message ?? `stand-in error ${reply.status}`,
      reply.type ?? 'api_error',
      requestId,
      reply.code,
    );
    return;
  }
  if ('rawBody' in reply) {
    res.writeHead(200, {
      'content-type': reply.contentType ?? 'application/json',
      'x-request-id': requestId,
    });
    res.end(reply.rawBody);
    return;
  }
  let choices: unknown[];
  if ('emptyChoices' in reply) {
    choices = [];
  } else {
    const refusal = 'refusal' in reply ? reply.refusal : null;
    const content =
      'refusal' in reply ? null : 'verdict' in reply ? JSON.stringify(reply.verdict) : reply.content;
    const finishReason = 'content' in reply && reply.finishReason !== undefined ? reply.finishReason : 'stop';
    choices = [
      {
        index: 0,
        message: { role: 'assistant', content, refusal },
        logprobs: null,
        finish_reason: finishReason,
      },
    ];
  }
  sendJson(res, 200, requestId, {
    id: `chatcmpl-standin-${requestId}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices,
    usage: usageOf(reply.usage ?? { prompt: 100, completion: 20 }),
  });
}

function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  type: string,
  requestId: string,
  code: string | null = null,
): void {
  // OpenAI's error body: { error: { message, type, param, code } }.
  sendJson(res, status, requestId, { error: { message, type, param: null, code } });
}

function sendJson(res: ServerResponse, status: number, requestId: string, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-request-id': requestId,
  });
  res.end(text);
}

function usageOf(u: { prompt: number; completion: number; cached?: number }): Record<string, unknown> {
  return {
    prompt_tokens: u.prompt,
    completion_tokens: u.completion,
    total_tokens: u.prompt + u.completion,
    ...(u.cached === undefined ? {} : { prompt_tokens_details: { cached_tokens: u.cached } }),
  };
}
