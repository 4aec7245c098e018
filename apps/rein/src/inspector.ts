import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The web inspector (apps/inspector, built by vite into dist/inspector) served beside the API:
 * `/`, `/runs/...`, `/compare/...` and `/lessons` answer its page, `/assets/...` its files. Everything else —
 * /v1, /healthz, /readyz, /metrics, unknown paths — falls through to Nest's routes, so the API
 * keeps its precedence and its JSON 404s. The page holds no data: it calls the API with the user's token.
 */
export function serveInspector(app: Mountable, fixed?: string): void {
  // Found on first use, so a server started before `npm run build:inspector` serves it after.
  let found = fixed;
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const path = req.path;
    const dir = (found ??= inspectorDir());
    if (
      path === '/' ||
      path === '/runs' ||
      path === '/lessons' ||
      path.startsWith('/runs/') ||
      path.startsWith('/compare/')
    ) {
      const page = dir === undefined ? undefined : join(dir, 'index.html');
      if (page === undefined || !existsSync(page)) return sendMissing(res);
      return sendFile(res, page, 'no-cache');
    }
    if (!path.startsWith('/assets/') || dir === undefined) return next();
    const file = normalize(join(dir, path));
    // A name with `..` or an encoded separator that leaves the folder is simply not found.
    if (!file.startsWith(join(dir, 'assets') + sep) || !existsSync(file)) return next();
    // vite names assets by their content hash: they never change under one name.
    return sendFile(res, file, 'public, max-age=31536000, immutable');
  });
}

/** Nest's HTTP application, or a bare Express one (the tests'). */
export interface Mountable {
  use(handler: RequestHandler): unknown;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json; charset=utf-8',
};

// Everything the page loads is its own: no CDN, no inline script, no frames around it.
const CSP =
  "default-src 'self'; script-src 'self'; worker-src 'self'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

function sendFile(res: Response, file: string, cache: string): void {
  res.status(200).set({
    'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
    'Cache-Control': cache,
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
  res.send(readFileSync(file));
}

function sendMissing(res: Response): void {
  res
    .status(503)
    .set({ 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' })
    .send(
      'The inspector is not built: run `npm run build:inspector` (or `npm install`) in the rein checkout.\n',
    );
}

/**
 * dist/inspector: beside the compiled server (dist/apps/rein/src → dist/inspector) or, when the
 * server runs from source, under the checkout's dist/.
 */
function inspectorDir(): string | undefined {
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const candidate of [join(here, '../../../inspector'), join(here, '../../../dist/inspector')]) {
    if (existsSync(join(candidate, 'index.html'))) return normalize(candidate);
  }
  return undefined;
}
