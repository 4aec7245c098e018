# Helpers the example checks share (sourced after `cd` to the repository root, with $work and
# $server set by the script). CHECK names the script in its failure line.

stop() {
  if [ -n "$1" ]; then kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi
}

fail() {
  echo "${CHECK:-check}: FAILED: $*" >&2
  if [ -n "${run:-}" ]; then rein status "$run" >&2 || true; fi
  echo "--- server log (tail) ---" >&2
  tail -n 30 "$work/server.log" >&2 || true
  exit 1
}

# Waits up to $3 seconds for the URL a process prints in its log ($1) after the text $2.
url_from_log() {
  i=0
  while [ "$i" -lt $(($3 * 5)) ]; do
    url=$(sed -n "s#.*$2 \(http://[^ ]*\).*#\1#p" "$1" 2>/dev/null | head -n 1)
    if [ -n "$url" ]; then
      echo "$url"
      return 0
    fi
    sleep 0.2
    i=$((i + 1))
  done
  return 1
}

# `rein up` prints the port it was given, so it gets a free one rather than 0.
free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
    console.log(s.address().port);
    s.close();
  });'
}

rein() { node bin/rein.mjs --server "$server" "$@"; }
