#!/usr/bin/env node
// A STAND-IN FOR A REAL LLM JUDGE, for running Rein's examples offline. It is not a model and
// judges nothing: it applies one fixed, documented rule, so the examples behave predictably
// without an API key or network. Point Rein at a real OpenAI-compatible API for real judging.
//
// It speaks the OpenAI chat-completions wire format (POST /v1/chat/completions), so Rein's judge
// gate reaches it through the real `openai` client:
//
//   node examples/judge-standin/server.mjs [--port 7711]      (or REIN_JUDGE_STANDIN_PORT)
//   REIN_JUDGE_BASE_URL=http://127.0.0.1:7711/v1 REIN_JUDGE_API_KEY=standin REIN_JUDGE_MODEL=standin
//
// The rule: the rubric quotes a word in backticks, e.g. "The README mentions `healthz`." The
// verdict passes (score 0.9) when the attempt (its summary, file list and diff; the whole user
// message if it has no <attempt> section) contains that text, case-sensitively; otherwise it
// fails (score 0.2) with a reason naming the missing text. A rubric without a backticked word
// fails with a reason saying so. Any API key is accepted. Node built-ins only; no dependencies.

import { createServer } from 'node:http';

const PASS_SCORE = 0.9;
const FAIL_SCORE = 0.2;
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export function judge(system, user) {
  const rubric = section(system, 'rubric') ?? system;
  const attempt = section(user, 'attempt') ?? user;
  const quoted = /`([^`]+)`/.exec(rubric)?.[1];
  if (quoted === undefined) {
    return {
      pass: false,
      score: FAIL_SCORE,
      reasons: [
        'the stand-in judge needs the rubric to quote the expected text in backticks, e.g. `healthz`',
      ],
    };
  }
  if (attempt.includes(quoted)) {
    return { pass: true, score: PASS_SCORE, reasons: [`the attempt contains \`${quoted}\``] };
  }
  return { pass: false, score: FAIL_SCORE, reasons: [`the attempt does not contain \`${quoted}\``] };
}

function section(text, tag) {
  const start = text.indexOf(`<${tag}>`);
  const end = text.lastIndexOf(`</${tag}>`);
  return start >= 0 && end > start ? text.slice(start + tag.length + 2, end) : undefined;
}

function textOf(messages, role) {
  return messages
    .filter((m) => m && m.role === role)
    .map((m) =>
      typeof m.content === 'string'
        ? m.content
        : Array.isArray(m.content)
          ? m.content.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('')
          : '',
    )
    .join('\n');
}

let served = 0;

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-request-id': `req_judge_standin_${++served}`,
  });
  res.end(text);
}

function error(res, status, message, type = 'invalid_request_error') {
  send(res, status, { error: { message, type, param: null, code: null } });
}

export function createJudgeStandin() {
  return createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') return send(res, 200, { ok: true });
    if (req.method === 'GET' && path === '/v1/models') {
      return send(res, 200, {
        object: 'list',
        data: [{ id: 'standin', object: 'model', created: 0, owned_by: 'rein' }],
      });
    }
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      return error(res, 404, `judge stand-in: no route ${req.method} ${path}`);
    }
    let size = 0;
    const chunks = [];
    for await (const chunk of req) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) return error(res, 413, `judge stand-in: body over ${MAX_BODY_BYTES} bytes`);
      chunks.push(chunk);
    }
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return error(res, 400, 'judge stand-in: the body is not JSON');
    }
    if (typeof body?.model !== 'string' || !Array.isArray(body.messages)) {
      return error(res, 400, "judge stand-in: the body needs 'model' and 'messages'");
    }
    const verdict = judge(textOf(body.messages, 'system'), textOf(body.messages, 'user'));
    console.log(
      `judge stand-in: ${verdict.pass ? 'pass' : 'fail'} ${verdict.score} - ${verdict.reasons.join('; ')}`,
    );
    return send(res, 200, {
      id: `chatcmpl-standin-${served + 1}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: JSON.stringify(verdict), refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
    });
  });
}

function portFromArgs(argv, env) {
  const flag = argv.indexOf('--port');
  const raw = flag >= 0 ? argv[flag + 1] : (env.REIN_JUDGE_STANDIN_PORT ?? '7711');
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`judge stand-in: --port / REIN_JUDGE_STANDIN_PORT must be a port number, got '${raw}'`);
    process.exit(2);
  }
  return port;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = portFromArgs(process.argv.slice(2), process.env);
  const host = process.env.REIN_JUDGE_STANDIN_HOST ?? '127.0.0.1';
  const server = createJudgeStandin();
  server.on('error', (err) => {
    console.error(`judge stand-in: cannot listen on ${host}:${port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    const { port: bound } = server.address();
    console.log(`judge stand-in (not a real LLM) listening on http://${host}:${bound}/v1`);
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      server.close(() => process.exit(0));
      server.closeAllConnections();
    });
  }
}
