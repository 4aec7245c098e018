import type { ServerResponse } from 'node:http';
import { startScriptedServer } from './scripted-server.js';

/**
 * A real HTTP server on 127.0.0.1 that speaks Anthropic's Messages API, streaming with SSE, so the
 * real Claude Code CLI runs against it through `ANTHROPIC_BASE_URL` (DESIGN.md: "An LLM API is
 * reached only through its real HTTP client; tests point it at a local server that speaks the
 * provider's wire format"). Wire format: https://docs.anthropic.com/en/api/messages-streaming —
 * `message_start`, per block `content_block_start` / `content_block_delta` (`text_delta`,
 * `input_json_delta`) / `content_block_stop`, then `message_delta` with the stop reason and
 * output usage, and `message_stop`. Each scripted reply answers one `POST /v1/messages`.
 */

export type AnthropicBlock =
  | { readonly text: string }
  | { readonly toolUse: { readonly name: string; readonly input: unknown; readonly id?: string } };

export type AnthropicReply = (
  | {
      /** Content blocks in order; a `toolUse` block makes the stop reason `tool_use`. */
      readonly blocks: readonly AnthropicBlock[];
      readonly usage?: { readonly inputTokens?: number; readonly outputTokens?: number };
      /** Overrides the stop reason, e.g. `refusal` or `max_tokens`. */
      readonly stopReason?: string;
    }
  | {
      /** An error answer: `{ type: 'error', error: { type, message } }` with this HTTP status. */
      readonly status: number;
      readonly type?: string;
      readonly message?: string;
    }
  /** Accepts the request and never answers (until the stand-in closes). */
  | { readonly hang: true }
) & { readonly headers?: Readonly<Record<string, string>> };

export type AnthropicScript = AnthropicReply | ((request: AnthropicRequest) => AnthropicReply);

export interface AnthropicRequest {
  readonly method: string;
  /** Without the query string (Claude Code sends `?beta=true`). */
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The parsed JSON body, or `undefined` when it was not JSON. */
  readonly body: unknown;
}

export interface AnthropicStandin {
  /** For `ANTHROPIC_BASE_URL`: no `/v1`, the client adds it. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: AnthropicRequest[];
  /** Requests to `/v1/messages` that are being held without an answer. */
  readonly hanging: number;
  /** Queues answers for the next `/v1/messages` requests, one each, in order. */
  enqueue(...replies: AnthropicScript[]): void;
  /** The answer when nothing is queued; default an HTTP 500 saying nothing was scripted. */
  setFallback(reply: AnthropicScript): void;
  close(): Promise<void>;
}

export const anthropicText = (t: string): AnthropicReply => ({ blocks: [{ text: t }] });
export const anthropicToolUse = (name: string, input: unknown, say?: string): AnthropicReply => ({
  blocks: [...(say === undefined ? [] : [{ text: say }]), { toolUse: { name, input } }],
});

/** The text of every `tool_result` block in a request's last user message. */
export function anthropicToolResults(request: AnthropicRequest): { content: string; isError: boolean }[] {
  const messages = (request.body as { messages?: unknown } | undefined)?.messages;
  if (!Array.isArray(messages)) return [];
  const last = messages.at(-1) as { role?: unknown; content?: unknown } | undefined;
  if (last?.role !== 'user' || !Array.isArray(last.content)) return [];
  return (last.content as { type?: unknown; content?: unknown; is_error?: unknown }[])
    .filter((b) => b.type === 'tool_result')
    .map((b) => ({
      content:
        typeof b.content === 'string'
          ? b.content
          : Array.isArray(b.content)
            ? (b.content as { text?: unknown }[])
                .map((p) => (typeof p.text === 'string' ? p.text : ''))
                .join('')
            : '',
      isError: b.is_error === true,
    }));
}

export async function startAnthropicStandin(
  options: { readonly fallback?: AnthropicScript } = {},
): Promise<AnthropicStandin> {
  const server = await startScriptedServer<AnthropicRequest, AnthropicReply>({
    fallback: options.fallback ?? {
      status: 500,
      type: 'api_error',
      message: 'anthropic stand-in: no reply was scripted for this request',
    },
    route: (request, res) => {
      if (request.method === 'POST' && request.path === '/v1/messages/count_tokens') {
        json(res, 200, { input_tokens: 100 });
        return true;
      }
      if (request.method !== 'POST' || request.path !== '/v1/messages') {
        error(res, 404, 'not_found_error', `anthropic stand-in: no route ${request.method} ${request.path}`);
        return true;
      }
      const b = request.body as { model?: unknown; messages?: unknown } | undefined;
      if (typeof b?.model !== 'string' || !Array.isArray(b.messages)) {
        error(res, 400, 'invalid_request_error', "anthropic stand-in: the body needs 'model' and 'messages'");
        return true;
      }
      return false;
    },
    answer: (request, reply, res, served) => {
      if ('status' in reply) {
        error(
          res,
          reply.status,
          reply.type ?? 'api_error',
          reply.message ?? `stand-in error ${reply.status}`,
        );
        return;
      }
      const b = request.body as { model: string; stream?: unknown };
      const id = `msg_standin_${served}`;
      if (b.stream === true) stream(res, id, b.model, reply);
      else json(res, 200, message(id, b.model, reply));
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    requests: server.requests,
    get hanging() {
      return server.hanging;
    },
    enqueue: (...replies) => server.enqueue(...replies),
    setFallback: (reply) => server.setFallback(reply),
    close: () => server.close(),
  };
}

type Blocks = Extract<AnthropicReply, { blocks: unknown }>;

function contentOf(block: AnthropicBlock, i: number): Record<string, unknown> {
  return 'text' in block
    ? { type: 'text', text: block.text }
    : {
        type: 'tool_use',
        id: block.toolUse.id ?? `toolu_standin_${i}`,
        name: block.toolUse.name,
        input: block.toolUse.input,
      };
}

function stopReason(reply: Blocks): string {
  if (reply.stopReason !== undefined) return reply.stopReason;
  return reply.blocks.some((b) => 'toolUse' in b) ? 'tool_use' : 'end_turn';
}

function message(id: string, model: string, reply: Blocks): Record<string, unknown> {
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content: reply.blocks.map(contentOf),
    stop_reason: stopReason(reply),
    stop_sequence: null,
    usage: { input_tokens: reply.usage?.inputTokens ?? 10, output_tokens: reply.usage?.outputTokens ?? 5 },
  };
}

function stream(res: ServerResponse, id: string, model: string, reply: Blocks): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (type: string, data: Record<string, unknown>): void => {
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  };
  send('message_start', {
    message: {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: reply.usage?.inputTokens ?? 10, output_tokens: 1 },
    },
  });
  reply.blocks.forEach((block, index) => {
    if ('text' in block) {
      send('content_block_start', { index, content_block: { type: 'text', text: '' } });
      // Two deltas, so clients are exercised on joining them.
      const cut = Math.ceil(block.text.length / 2);
      for (const part of [block.text.slice(0, cut), block.text.slice(cut)]) {
        if (part !== '') send('content_block_delta', { index, delta: { type: 'text_delta', text: part } });
      }
    } else {
      const { id: toolId, name } = contentOf(block, index) as { id: string; name: string };
      send('content_block_start', {
        index,
        content_block: { type: 'tool_use', id: toolId, name, input: {} },
      });
      const input = JSON.stringify(block.toolUse.input);
      const cut = Math.ceil(input.length / 2);
      for (const part of [input.slice(0, cut), input.slice(cut)]) {
        send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: part } });
      }
    }
    send('content_block_stop', { index });
  });
  send('message_delta', {
    delta: { stop_reason: stopReason(reply), stop_sequence: null },
    usage: { output_tokens: reply.usage?.outputTokens ?? 5 },
  });
  send('message_stop', {});
  res.end();
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function error(res: ServerResponse, status: number, type: string, message: string): void {
  json(res, status, { type: 'error', error: { type, message } });
}
