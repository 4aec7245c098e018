/**
 * The sandbox side of egress: its network namespace has only its own loopback, so a tiny node
 * script listens on 127.0.0.1:{@link FORWARDER_PORT} there and pipes each connection to the
 * proxy's Unix socket, bound in from the host. It prints `ready` on stdout once it listens
 * (the prelude waits for that, so the agent's first request never races it) and then is silent.
 * It is written into the run's directory at run time rather than shipped as a file, so the
 * build needs no asset step. CommonJS: no package.json inside the sandbox says otherwise.
 */
export const FORWARDER_FILE = 'forwarder.cjs';
export const EGRESS_SOCKET_FILE = 'egress.sock';
export const FORWARDER_PORT = 3128;
/** Where the run's directory appears inside the sandbox (read-only). */
export const EGRESS_DIR_INSIDE = '/run/rein';

export const FORWARDER_SOURCE = `'use strict';
const net = require('node:net');
const socketPath = process.argv[2];
const port = Number(process.argv[3]);
const server = net.createServer({ allowHalfOpen: true }, (client) => {
  const upstream = net.connect({ path: socketPath, allowHalfOpen: true });
  const cut = () => { client.destroy(); upstream.destroy(); };
  client.on('error', cut);
  upstream.on('error', cut);
  client.on('close', () => upstream.destroy());
  client.pipe(upstream);
  upstream.pipe(client);
});
server.on('error', (err) => {
  process.stderr.write('rein egress forwarder: ' + err.message + '\\n');
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.end('ready\\n');
});
`;

/**
 * The sandbox's command with the forwarder started first: it runs in the background in the
 * sandbox's pid namespace (so it dies with the sandbox), its readiness arrives through a fifo
 * in the sandbox's own /tmp, and then the agent's command replaces the prelude shell, so the
 * exit code and signals are the command's own. Run as `sh -c PRELUDE rein-egress NODE COMMAND`.
 */
export const EGRESS_PRELUDE = [
  `d=$(mktemp -d /tmp/.rein-egress-XXXXXX) && mkfifo "$d/ready" || exit 125`,
  `"$1" ${EGRESS_DIR_INSIDE}/${FORWARDER_FILE} ${EGRESS_DIR_INSIDE}/${EGRESS_SOCKET_FILE} ${FORWARDER_PORT} >"$d/ready" </dev/null &`,
  `read -r state <"$d/ready"; rm -rf "$d"`,
  `[ "$state" = ready ] || { echo "rein-sandbox: the egress forwarder did not start" >&2; exit 125; }`,
  `shift; exec /bin/sh -c "$1"`,
].join('\n');

/** What the agent's tools read to find the proxy; loopback itself stays direct. */
export function proxyEnv(): Record<string, string> {
  const url = `http://127.0.0.1:${FORWARDER_PORT}`;
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    http_proxy: url,
    https_proxy: url,
    NO_PROXY: 'localhost,127.0.0.1',
    no_proxy: 'localhost,127.0.0.1',
  };
}
