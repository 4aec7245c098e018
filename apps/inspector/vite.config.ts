import { defineConfig } from 'vite';

/**
 * The inspector's bundle: `vite build apps/inspector` (npm run build:inspector) writes
 * dist/inspector, which apps/rein/src/inspector.ts serves. Everything is bundled; the page loads
 * nothing from anywhere but its own server.
 */
export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../../dist/inspector',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
  },
  worker: { format: 'es' },
});
