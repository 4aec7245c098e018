#!/usr/bin/env node
// The `rein` command: runs the compiled CLI (apps/rein/src/main.ts → dist/apps/rein/src/main.js).
let cli;
try {
  cli = await import('../dist/apps/rein/src/main.js');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/apps/rein/src/main.js'))
    throw e;
  process.stderr.write(
    'rein is not built: run `npm install` (which builds) or `npm run build:js` in the rein checkout.\n',
  );
  process.exit(2);
}
// A reader that stops early (`rein events RUN | head`) closes the pipe: end quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e?.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}
await cli.main(process.argv);
