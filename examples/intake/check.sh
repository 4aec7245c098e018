#!/bin/sh
# Tracker intake end to end on one machine, against the local GitHub stand-in:
#   sh examples/intake/check.sh            (SKIP_BUILD=1 reuses dist/)
# Two labelled issues become two runs; their status comment and rein:* label follow the runs
# (running, then review while the task waits for approval); approving issue 1's task makes it
# rein:done; closing issue 2 cancels its run (rein:failed). A signed webhook polls at once, an
# unsigned one is refused. Exit 0 when all of that happened; otherwise it says what did not.
set -eu
cd "$(dirname "$0")/../.."
CHECK="intake check"
. examples/lib.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/rein-intake.XXXXXX")
chmod 711 "$work"
standin_pid=''
server_pid=''
cleanup() {
  stop "$server_pid"
  stop "$standin_pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to $3 seconds until the JS expression $2 holds over GitHub issue #$1 (`i`, its labels
# as names) and its comments' bodies (`c`): one node process polling, not one per try.
wait_issue() {
  GH="$gh" TOKEN="$token" node -e '
    const [n, expr, secs] = process.argv.slice(1);
    const get = async (p) => (await fetch(process.env.GH + p, { headers: { authorization: `token ${process.env.TOKEN}` } })).json();
    (async () => {
      for (const end = Date.now() + secs * 1000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
        const raw = await get(`/repos/acme/api/issues/${n}`);
        const i = { ...raw, labels: raw.labels.map((l) => l.name) };
        const c = (await get(`/repos/acme/api/issues/${n}/comments`)).map((x) => x.body);
        if (eval(expr)) process.exit(0);
      }
      process.exit(1);
    })();' "$1" "$2" "$3" || fail "issue #$1: still not true after $3 s: $2"
}

# Waits up to 20 s until GET /v1/intake shows runs for issues #1 and #2; prints both run ids,
# and whether #3 was claimed too (it must not be).
claims() {
  node -e '
    (async () => {
      for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
        const s = await (await fetch(process.argv[1] + "/v1/intake")).json();
        const run = (n) => s.trackers[0]?.claims.find((x) => x.issueId === n)?.runId;
        if (run("1") && run("2")) {
          console.log(run("1"), run("2"), run("3") ? "claimed-3" : "");
          process.exit(0);
        }
      }
      process.exit(1);
    })();' "$server"
}

# POSTs the webhook with body $1 and signature $2 (empty: none); prints the status code.
webhook() {
  node -e '
    const [url, body, sig] = process.argv.slice(1);
    fetch(`${url}/v1/intake/gh/webhook`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "issues", ...(sig ? { "x-hub-signature-256": sig } : {}) },
      body,
    }).then((r) => console.log(r.status));' "$server" "$1" "$2"
}
sign() {
  node -e 'const c = require("crypto");
    console.log("sha256=" + c.createHmac("sha256", process.argv[1]).update(process.argv[2]).digest("hex"));' "$1" "$2"
}

if [ "${SKIP_BUILD:-}" != 1 ]; then
  echo "intake check: building dist/"
  npm run build:js --silent
fi

node examples/intake/standin.mjs >"$work/standin.log" 2>&1 &
standin_pid=$!
gh=$(url_from_log "$work/standin.log" 'listening on' 10) || fail "the GitHub stand-in did not start"
token=$(sed -n 's/.* token \([^ ]*\)$/\1/p' "$work/standin.log" | head -n 1)

# The example file, pointed at the stand-in.
sed "s#apiUrl: .*#apiUrl: $gh#" examples/intake/intake.yaml >"$work/intake.yaml"
secret=example-webhook-secret
GITHUB_TOKEN="$token" GITHUB_WEBHOOK_SECRET="$secret" \
  node bin/rein.mjs up --port "$(free_port)" --data-dir "$work/data" --intake "$work/intake.yaml" \
  >"$work/server.log" 2>&1 &
server_pid=$!
server=$(url_from_log "$work/server.log" 'rein: listening on' 30) || fail "rein up --intake did not start"
echo "intake check: server $server, GitHub stand-in $gh"

echo "intake check: issues #1 and #2 (labelled rein) become runs; #3 does not"
set -- $(claims) || fail "issues #1 and #2 were not claimed"
run1=${1:-}
run2=${2:-}
[ -n "$run2" ] || fail "issues #1 and #2 were not claimed"
[ "$run1" != "$run2" ] || fail "#1 and #2 got the same run"
[ -z "${3:-}" ] || fail "issue #3 (not labelled rein) became a run"
echo "intake check: #1 → run $run1, #2 → run $run2"

echo "intake check: both wait for approval: one status comment each, label rein:review"
for n in 1 2; do
  wait_issue "$n" 'i.labels.filter((l) => l.startsWith("rein:")).join() === "rein:review" && c.length === 1 &&
    c[0].includes("review (a task waits for approval)")' 20
done

echo "intake check: approve #1's task: its run succeeds, the comment is edited, the label is rein:done"
rein approve "$run1" fix >/dev/null
wait_issue 1 'i.labels.includes("rein:done") && !i.labels.includes("rein:review") && c.length === 1 && c[0].includes(": succeeded")' 20

echo "intake check: close #2 on the tracker: its run is cancelled, the issue says so"
GH="$gh" TOKEN="$token" node -e 'fetch(process.env.GH + "/repos/acme/api/issues/2", { method: "PATCH",
  headers: { authorization: `token ${process.env.TOKEN}`, "content-type": "application/json" },
  body: JSON.stringify({ state: "closed" }) }).then((r) => process.exit(r.ok ? 0 : 1))'
wait_issue 2 'i.labels.includes("rein:failed") && c.length === 1 && c[0].includes("cancelled by intake: the issue is closed")' 20
rein --json status "$run2" | node -e 'process.exit(JSON.parse(require("fs").readFileSync(0, "utf8")).status === "cancelled" ? 0 : 1)' ||
  fail "run $run2 is not cancelled"

echo "intake check: a webhook needs its signature (401 without), a signed one polls at once (202)"
body='{"action":"closed","issue":{"number":2}}'
[ "$(webhook "$body" '')" = 401 ] || fail "an unsigned webhook was not refused with 401"
[ "$(webhook "$body" "$(sign wrong-secret "$body")")" = 401 ] || fail "a wrongly signed webhook was not refused"
[ "$(webhook "$body" "$(sign "$secret" "$body")")" = 202 ] || fail "a signed webhook was not accepted"

echo "intake check: two issues, two runs, written back; closing one cancelled its run"
