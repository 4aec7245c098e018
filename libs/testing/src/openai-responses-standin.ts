import type { ServerResponse } from 'node:http';
import { startScriptedServer } from './scripted-server.js';

/**
 * A real HTTP server on 127.0.0.1 that speaks OpenAI's Responses API, streaming with SSE, so the
 * real Codex CLI runs against it through a custom `model_providers` entry (`wire_api =
 * "responses"`; Codex ignores `OPENAI_BASE_URL`). Wire format:
 * https://platform.openai.com/docs/api-reference/responses-streaming — `response.created`, per
 * output item `response.output_item.added`, its deltas (`response.output_text.delta`,
 * `response.function_call_arguments.delta`), `response.output_item.done`, then
 * `response.completed` carrying the usage. Each scripted reply answers one `POST /v1/responses`.
 */

export type ResponsesItem =
  | { readonly text: string }
  | {
      readonly functionCall: {
        readonly name: string;
        /** An object is sent as its JSON text, which is what the API sends. */
        readonly arguments: unknown;
        readonly callId?: string;
      };
    };

export type ResponsesReply = (
  | {
      readonly items: readonly ResponsesItem[];
      readonly usage?: { readonly inputTokens?: number; readonly outputTokens?: number };
    }
  /** An error answer: `{ error: { type, message, code } }` with this HTTP status. */
  | { readonly status: number; readonly type?: string; readonly message?: string; readonly code?: string }
  /** Accepts the request and never answers (until the stand-in closes). */
  | { readonly hang: true }
) & { readonly headers?: Readonly<Record<string, string>> };

export type ResponsesScript = ResponsesReply | ((request: ResponsesRequest) => ResponsesReply);

export interface ResponsesRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: unknown;
}

export interface ResponsesStandin {
  /** The provider's `base_url`, ending in `/v1`. */
  readonly url: string;
  readonly requests: ResponsesRequest[];
  /** Requests to `/v1/responses` that are being held without an answer. */
  readonly hanging: number;
  enqueue(...replies: ResponsesScript[]): void;
  /** The answer when nothing is queued; default an HTTP 500 saying nothing was scripted. */
  setFallback(reply: ResponsesScript): void;
  close(): Promise<void>;
}

export const responsesText = (t: string): ResponsesReply => ({ items: [{ text: t }] });
export const responsesCall = (name: string, args: unknown): ResponsesReply => ({
  items: [{ functionCall: { name, arguments: args } }],
});

/** The `output` of every `function_call_output` item in a request's input. */
export function functionCallOutputs(request: ResponsesRequest): string[] {
  const input = (request.body as { input?: unknown } | undefined)?.input;
  if (!Array.isArray(input)) return [];
  return (input as { type?: unknown; output?: unknown }[])
    .filter((i) => i.type === 'function_call_output')
    .map((i) => (typeof i.output === 'string' ? i.output : JSON.stringify(i.output)));
}

export async function startResponsesStandin(
  options: { readonly fallback?: ResponsesScript } = {},
): Promise<ResponsesStandin> {
  const server = await startScriptedServer<ResponsesRequest, ResponsesReply>({
    fallback: options.fallback ?? {
      status: 500,
      type: 'server_error',
      message: 'responses stand-in: no reply was scripted for this request',
    },
    route: (request, res) => {
      if (request.method !== 'POST' || request.path !== '/v1/responses') {
        error(
          res,
          404,
          'invalid_request_error',
          `responses stand-in: no route ${request.method} ${request.path}`,
        );
        return true;
      }
      const b = request.body as { model?: unknown; input?: unknown } | undefined;
      if (typeof b?.model !== 'string' || !Array.isArray(b.input)) {
        error(res, 400, 'invalid_request_error', "responses stand-in: the body needs 'model' and 'input'");
        return true;
      }
      return false;
    },
    answer: (request, reply, res, served) => {
      if ('status' in reply) {
        error(
          res,
          reply.status,
          reply.type ?? 'server_error',
          reply.message ?? `stand-in error ${reply.status}`,
          reply.code,
        );
        return;
      }
      stream(res, `resp_standin_${served}`, (request.body as { model: string }).model, reply);
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/v1`,
    requests: server.requests,
    get hanging() {
      return server.hanging;
    },
    enqueue: (...replies) => server.enqueue(...replies),
    setFallback: (reply) => server.setFallback(reply),
    close: () => server.close(),
  };
}

type Items = Extract<ResponsesReply, { items: unknown }>;

function stream(res: ServerResponse, id: string, model: string, reply: Items): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let sequence = 0;
  const send = (type: string, data: Record<string, unknown>): void => {
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...data })}\n\n`);
  };
  const response = { id, object: 'response', created_at: Math.floor(Date.now() / 1000), model, output: [] };
  send('response.created', { response: { ...response, status: 'in_progress' } });
  const done: Record<string, unknown>[] = [];
  reply.items.forEach((item, output_index) => {
    if ('text' in item) {
      const itemId = `msg_${id}_${output_index}`;
      send('response.output_item.added', {
        output_index,
        item: { id: itemId, type: 'message', role: 'assistant', status: 'in_progress', content: [] },
      });
      const at = { output_index, item_id: itemId, content_index: 0 };
      send('response.content_part.added', {
        ...at,
        part: { type: 'output_text', text: '', annotations: [] },
      });
      const cut = Math.ceil(item.text.length / 2);
      for (const delta of [item.text.slice(0, cut), item.text.slice(cut)]) {
        if (delta !== '') send('response.output_text.delta', { ...at, delta });
      }
      send('response.output_text.done', { ...at, text: item.text });
      const part = { type: 'output_text', text: item.text, annotations: [] };
      send('response.content_part.done', { ...at, part });
      const full = { id: itemId, type: 'message', role: 'assistant', status: 'completed', content: [part] };
      send('response.output_item.done', { output_index, item: full });
      done.push(full);
    } else {
      const itemId = `fc_${id}_${output_index}`;
      const call = item.functionCall;
      const args = typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
      const base = {
        id: itemId,
        type: 'function_call',
        name: call.name,
        call_id: call.callId ?? `call_${id}_${output_index}`,
      };
      send('response.output_item.added', {
        output_index,
        item: { ...base, status: 'in_progress', arguments: '' },
      });
      const cut = Math.ceil(args.length / 2);
      for (const delta of [args.slice(0, cut), args.slice(cut)]) {
        if (delta !== '')
          send('response.function_call_arguments.delta', { output_index, item_id: itemId, delta });
      }
      send('response.function_call_arguments.done', { output_index, item_id: itemId, arguments: args });
      const full = { ...base, status: 'completed', arguments: args };
      send('response.output_item.done', { output_index, item: full });
      done.push(full);
    }
  });
  const input = reply.usage?.inputTokens ?? 20;
  const output = reply.usage?.outputTokens ?? 6;
  send('response.completed', {
    response: {
      ...response,
      status: 'completed',
      output: done,
      usage: {
        input_tokens: input,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: output,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: input + output,
      },
    },
  });
  res.end();
}

function error(res: ServerResponse, status: number, type: string, message: string, code?: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { type, message, code: code ?? null, param: null } }));
}
