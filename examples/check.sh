#!/bin/sh
# Runs every example against a fresh server and checks that each ends as its spec says:
#   sh examples/check.sh
# It builds dist/, starts the judge stand-in (not a real LLM) and `rein up` on free ports with a
# temporary data dir, drives the approval example with reject/approve, and stops both at the end.
# Exit 0 when every example behaved; otherwise it names the one that did not and shows the run.
set -eu
cd "$(dirname "$0")/.."
CHECK="check"
. examples/lib.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/rein-examples.XXXXXX")
# The sandbox's unprivileged uid must be able to walk into the data dir's workspaces.
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

# Evaluates a JS expression over the run view `v` (GET /v1/runs/RUN): exit 0 when it is true.
holds() {
  rein --json status "$1" | node -e '
    const v = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const task = (id) => v.tasks.find((t) => t.id === id);
    process.exit(eval(process.argv[1]) ? 0 : 1);' "$2"
}

# Submits $1 and watches it to the end; sets `run`. Fails unless the run succeeded.
submit_watch() {
  out="$work/$(basename "$(dirname "$1")").out"
  if rein submit "$1" --watch >"$out"; then
    run=$(head -n 1 "$out")
  else
    code=$?
    run=$(head -n 1 "$out")
    fail "$1: submit --watch exited $code (0 means the run succeeded)"
  fi
}

# Polls `holds RUN EXPR` for up to $3 seconds.
wait_until() {
  i=0
  while [ "$i" -lt $(($3 * 5)) ]; do
    if holds "$1" "$2"; then return 0; fi
    sleep 0.2
    i=$((i + 1))
  done
  fail "run $1: still not true after $3 s: $2"
}

echo "check: building dist/"
npm run build:js --silent

node examples/judge-standin/server.mjs --port 0 >"$work/standin.log" 2>&1 &
standin_pid=$!
judge=$(url_from_log "$work/standin.log" 'listening on' 10) || fail "the judge stand-in did not start"

REIN_JUDGE_BASE_URL="$judge" REIN_JUDGE_MODEL=standin REIN_JUDGE_API_KEY=dummy \
  node bin/rein.mjs up --port "$(free_port)" --data-dir "$work/data" >"$work/server.log" 2>&1 &
server_pid=$!
server=$(url_from_log "$work/server.log" 'rein: listening on' 30) || fail "rein up did not start"
echo "check: server $server, judge stand-in $judge"

echo "check: build — api → segmentation → deploy, then rollback of segmentation"
submit_watch examples/build/run.yaml
holds "$run" 'v.status === "succeeded" && v.tasks.every((t) => t.attempts.length === 1)' ||
  fail "build: expected every task to succeed on its first attempt"
rein rollback "$run" --task segmentation >/dev/null
wait_until "$run" 'v.status === "succeeded" && task("segmentation").attempts.length === 2 &&
  task("deploy").attempts.length === 2 && task("api").attempts.length === 1' 60

echo "check: retry — attempt 1 fails its test gate, attempt 2 uses the feedback"
submit_watch examples/retry/run.yaml
holds "$run" 'const a = task("client-config").attempts; a.length === 2 && !a[0].verdicts[0].pass &&
  a[1].verdicts[0].pass && a[1].summary.includes("added timeout_ms")' ||
  fail "retry: expected a failed then a passing attempt that read the feedback"

echo "check: judge — passes the stand-in's rule"
submit_watch examples/judge/run.yaml
holds "$run" 'task("api-docs").attempts[0].verdicts.some((x) => x.gate === "judge" && x.pass && x.score === 0.9)' ||
  fail "judge: expected judge:pass(0.9)"

echo "check: approval — reject with a comment, then approve the retry"
run=$(rein submit examples/approval/run.yaml)
# Attempt $1's approval is pending once its test gate has passed and the task is still verifying.
approval_pending() {
  echo "const t = task('release-notes'), a = t.attempts[t.attempts.length - 1];
    t.state === 'verifying' && a.n === $1 && a.verdicts.length === 1 && a.verdicts[0].pass"
}
wait_until "$run" "$(approval_pending 1)" 30
rein reject "$run" release-notes --comment "mention the database migration" >/dev/null
wait_until "$run" "$(approval_pending 2)" 30
holds "$run" 'task("release-notes").attempts[1].summary.includes("answering the review")' ||
  fail "approval: attempt 2 did not get the rejection comment as feedback"
rein approve "$run" release-notes >/dev/null
wait_until "$run" 'v.status === "succeeded"' 30

echo "check: all examples ended as described"
