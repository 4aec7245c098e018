import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request a scripted stand-in received: its path without the query string, and its JSON body. */
export interface ScriptedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The parsed JSON body, or `undefined` when it was not JSON. */
  readonly body: unknown;
}

/** What every scripted reply may carry: extra headers, or `hang` to answer never. */
export type ScriptedReply = ({ readonly hang: true } | object) & {
  readonly headers?: Readonly<Record<string, string>>;
};

export interface ScriptedServer<Req extends ScriptedRequest, Script> {
  readonly port: number;
  readonly requests: Req[];
  /** Scripted requests being held without an answer (`hang`). */
  readonly hanging: number;
  enqueue(...replies: Script[]): void;
  setFallback(reply: Script): void;
  close(): Promise<void>;
}

/**
 * The part every provider stand-in shares: a real HTTP server on 127.0.0.1 that records each
 * request, answers the provider's own routes (`route`: 404s, validation, side endpoints — return
 * true when it answered), and otherwise plays the next queued script (or the fallback): its
 * headers, a hang, or the provider's rendering of the reply (`answer`).
 */
export async function startScriptedServer<Req extends ScriptedRequest, Reply extends ScriptedReply>(o: {
  readonly fallback: Reply | ((request: Req) => Reply);
  readonly route: (request: Req, res: ServerResponse) => boolean;
  readonly answer: (
    request: Req,
    reply: Exclude<Reply, { hang: true }>,
    res: ServerResponse,
    served: number,
  ) => void;
}): Promise<ScriptedServer<Req, Reply | ((request: Req) => Reply)>> {
  type Script = Reply | ((request: Req) => Reply);
  const queue: Script[] = [];
  const requests: Req[] = [];
  let fallback: Script = o.fallback;
  const held = new Set<ServerResponse>();
  let served = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      body = undefined;
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const request = { method: req.method ?? 'GET', path, headers: req.headers, body } as Req;
    requests.push(request);
    served++;
    if (o.route(request, res)) return;
    const script = queue.shift() ?? fallback;
    const reply = typeof script === 'function' ? script(request) : script;
    for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
    if ('hang' in reply) {
      held.add(res);
      res.once('close', () => held.delete(res));
      return;
    }
    o.answer(request, reply as Exclude<Reply, { hang: true }>, res, served);
  };
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    get hanging() {
      return held.size;
    },
    enqueue: (...replies) => {
      queue.push(...replies);
    },
    setFallback: (reply) => {
      fallback = reply;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
