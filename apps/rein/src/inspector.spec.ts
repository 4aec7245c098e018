import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { serveInspector } from './inspector.js';

let dir: string;
let app: express.Express;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rein-inspector-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>inspector</title>');
  writeFileSync(join(dir, 'assets', 'index-abc.js'), 'console.log(1)');
  writeFileSync(join(dir, 'secret.txt'), 'not an asset');
  app = express();
  serveInspector(app, dir);
  // Stands in for the API's routes and its JSON 404.
  app.get('/v1/runs', (_req, res) => void res.json({ runs: [] }));
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.use((_req, res) => void res.status(404).json({ errors: [{ code: 'not_found' }] }));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('serveInspector', () => {
  it('answers the page at / and /runs/{id}, with a CSP that allows only its own origin', async () => {
    for (const path of ['/', '/runs', '/runs/abc', '/runs/abc?at=3&task=x']) {
      const res = await request(app).get(path);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toContain('text/html');
      expect(res.headers['content-security-policy']).toContain("default-src 'self'");
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.text).toContain('<title>inspector</title>');
    }
  });

  it('serves hashed assets as immutable and nothing outside assets/', async () => {
    const js = await request(app).get('/assets/index-abc.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toContain('text/javascript');
    expect(js.headers['cache-control']).toContain('immutable');
    for (const path of [
      '/assets/../secret.txt',
      '/assets/%2e%2e/secret.txt',
      '/assets/nope.js',
      '/secret.txt',
    ]) {
      const res = await request(app).get(path);
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toContain('application/json');
    }
  });

  it('leaves /v1, /healthz, other methods and unknown paths to the routes after it', async () => {
    expect((await request(app).get('/v1/runs')).body).toEqual({ runs: [] });
    expect((await request(app).get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await request(app).get('/v1/nothing')).status).toBe(404);
    expect((await request(app).post('/runs/abc')).status).toBe(404);
    expect((await request(app).get('/elsewhere')).status).toBe(404);
  });

  it('says how to build the page when it is not built', async () => {
    const bare = express();
    serveInspector(bare, join(dir, 'missing'));
    const res = await request(bare).get('/runs/abc');
    expect(res.status).toBe(503);
    expect(res.text).toContain('npm run build:inspector');
  });
});
