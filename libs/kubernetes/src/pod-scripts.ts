/**
 * The shell scripts an attempt pod runs (POSIX sh; the images need `sh` and `git` ≥ 2.32).
 * Kept as data, not baked into an image, so a test can run them with the real git against the
 * real {@link GitHttpServer} outside a cluster. Every path and value arrives in an environment
 * variable; the token never does: git reads it from `GIT_CONFIG_GLOBAL`, a file of the
 * per-attempt Secret holding `http.<repo url>.extraHeader`, so it appears in no argument list, no
 * environment and no `ps` output.
 *
 * The pod (see job.manifest.ts):
 *   init `workspace-in`    {@link WORKSPACE_IN}: fetches the start ref into a git dir on its own
 *                          emptyDir, checks it is the expected commit, checks it out into the
 *                          workspace emptyDir.
 *   sidecar `workspace-out` {@link WORKSPACE_OUT} (an init container with restartPolicy Always, a
 *                          native sidecar): waits for the agent's exit file, commits the
 *                          workspace on top of the start commit and pushes it to the attempt ref.
 *   container `agent`      {@link AGENT_WRAPPER}: runs the agent command in the workspace, writes
 *                          its exit code, waits (bounded) for the sidecar's push, exits with the
 *                          agent's code.
 *
 * Why a sidecar rather than a push at the end of the agent container: only the sidecar mounts the
 * token and the git dir. The agent shares neither (no shared process namespace), so it cannot
 * push elsewhere, fetch with the token, or rewrite the history its snapshot is built on — the
 * cluster form of DESIGN.md's "the agent cannot rewrite its own history".
 */

/** Only the token's config, no prompts: how every git step of a pod starts. */
const GIT_CONFIG =
  'export GIT_CONFIG_GLOBAL="$REIN_TOKEN_DIR/gitconfig" GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0';

/** `g`: git on the pod's git dir with no hooks and no gc, checking files out as committed. */
function gitFunction(extra = ''): string {
  return `g() { git --git-dir="$REIN_GIT_DIR" -c core.bare=false -c core.hooksPath=/dev/null -c gc.auto=0 -c core.symlinks=true -c core.autocrlf=false -c core.protectNTFS=false${extra} "$@"; }`;
}

/**
 * Fetch `$<refVar>` into `localRef` of a fresh git dir, check it is `$<commitVar>` (exit 3 with
 * `mismatch` if not), and check that commit out into the workspace.
 */
function checkoutScript(o: {
  readonly refVar: string;
  readonly localRef: string;
  readonly commitVar: string;
  readonly mismatch: string;
  readonly done: string;
}): string {
  return `set -eu
${GIT_CONFIG}
export GIT_ALLOW_PROTOCOL=http:https
${gitFunction()}
git init -q --bare "$REIN_GIT_DIR"
g fetch -q --no-tags "$REIN_GIT_URL" "+$${o.refVar}:${o.localRef}"
got=$(g rev-parse --verify -q '${o.localRef}^{commit}')
if [ "$got" != "$${o.commitVar}" ]; then
  echo "${o.mismatch}" >&2
  exit 3
fi
g read-tree "$${o.commitVar}"
cd "$REIN_WORKSPACE"
g --work-tree=. checkout-index -a -f
echo "${o.done}" >&2
`;
}

/** Fetch the start ref, verify the commit, check it out. Exit 3: the ref moved. */
export const WORKSPACE_IN = checkoutScript({
  refVar: 'REIN_START_REF',
  localRef: 'refs/rein/start',
  commitVar: 'REIN_START_COMMIT',
  mismatch:
    'rein: $REIN_START_REF is $got, expected $REIN_START_COMMIT: the workspace moved; retry the attempt',
  done: 'rein: workspace at $REIN_START_COMMIT',
});

/** Wait for the agent, snapshot the workspace, push it; then stay up until the pod ends. */
export const WORKSPACE_OUT = `set -u
trap 'exit 0' TERM INT
park() { [ "\${REIN_PARK:-1}" = 1 ] || exit 0; while :; do sleep 3600 & wait $!; done; }
s="$REIN_STATUS_DIR"
if [ -e "$s/pushed" ] || [ -e "$s/push-failed" ]; then park; fi
while [ ! -e "$s/agent-exit" ]; do sleep 1 & wait $!; done
${GIT_CONFIG}
export GIT_ALLOW_PROTOCOL=http:https GIT_INDEX_FILE="$REIN_GIT_DIR/snapshot-index"
export GIT_AUTHOR_NAME=rein GIT_AUTHOR_EMAIL=rein@rein.invalid GIT_AUTHOR_DATE='946684800 +0000'
export GIT_COMMITTER_NAME=rein GIT_COMMITTER_EMAIL=rein@rein.invalid GIT_COMMITTER_DATE='946684800 +0000'
${gitFunction(' -c core.excludesFile=/dev/null')}
fail() { echo "rein: snapshot not pushed: $1" >&2; printf '%s\\n' "$1" > "$s/push-failed.tmp" && mv "$s/push-failed.tmp" "$s/push-failed"; park; }
rm -f "$GIT_INDEX_FILE"
cd "$REIN_WORKSPACE" || fail "workspace missing"
g --work-tree=. add -A -f . || fail "git add failed"
tree=$(g write-tree) || fail "git write-tree failed"
commit=$(g commit-tree "$tree" -p "$REIN_START_COMMIT" -m "rein: task $REIN_TASK_ID attempt $REIN_ATTEMPT") || fail "git commit-tree failed"
g push -q "$REIN_GIT_URL" "+$commit:$REIN_PUSH_REF" || fail "git push to $REIN_PUSH_REF failed"
echo "rein: snapshot $commit pushed to $REIN_PUSH_REF" >&2
printf '%s\\n' "$commit" > "$s/pushed.tmp" && mv "$s/pushed.tmp" "$s/pushed"
park
`;

/**
 * Run the agent command ("$1") in the workspace with the prompt, then hand over to the sidecar.
 * CPU time is limited here (RLIMIT_CPU, per process) because a pod has no CPU-time limit, only
 * a CPU rate; memory is the container's limit.
 */
export const AGENT_WRAPPER = `set -u
s="$REIN_STATUS_DIR"
export REIN_PROMPT_FILE="$REIN_INPUT_DIR/prompt"
if [ "$(wc -c < "$REIN_PROMPT_FILE")" -le 98304 ]; then REIN_PROMPT=$(cat "$REIN_PROMPT_FILE"); export REIN_PROMPT; fi
REIN_FEEDBACK=$(cat "$REIN_INPUT_DIR/feedback"); export REIN_FEEDBACK
cd "$REIN_WORKSPACE" || exit 125
( ulimit -t "$REIN_CPU_SECONDS" || exit 125; exec /bin/sh -c "$1" ) < /dev/null
code=$?
printf '%s\\n' "$code" > "$s/agent-exit.tmp" && mv "$s/agent-exit.tmp" "$s/agent-exit"
waited=0
while [ ! -e "$s/pushed" ] && [ ! -e "$s/push-failed" ] && [ "$waited" -lt "$REIN_PUSH_WAIT_SECONDS" ]; do
  sleep 1; waited=$((waited + 1))
done
if [ -e "$s/pushed" ]; then echo "rein: snapshot $(cat "$s/pushed")" >&2
elif [ -e "$s/push-failed" ]; then echo "rein: snapshot push failed: $(cat "$s/push-failed")" >&2
else echo "rein: snapshot push did not finish in $REIN_PUSH_WAIT_SECONDS s" >&2; fi
exit "$code"
`;

/**
 * A test gate pod's clone step (init `workspace-in` of the gate Job): fetches the attempt's
 * snapshot ref — the only ref its fetch-only token may see — checks it is the snapshot under test
 * and checks it out. Exit 3: the ref holds another commit.
 */
export const GATE_WORKSPACE_IN = checkoutScript({
  refVar: 'REIN_SNAPSHOT_REF',
  localRef: 'refs/rein/snapshot',
  commitVar: 'REIN_SNAPSHOT',
  mismatch: 'rein: $REIN_SNAPSHOT_REF is $got, not the snapshot under test $REIN_SNAPSHOT',
  done: 'rein: workspace at snapshot $REIN_SNAPSHOT',
});

/**
 * A test gate pod's container: the gate's command ("$1") in the workspace, CPU time limited like
 * the agent's. `exec`, so the container's exit code is the command's and the deadline's SIGTERM
 * reaches it. Nothing here pushes: a gate only reads the snapshot.
 */
export const GATE_RUN = `set -u
cd "$REIN_WORKSPACE" || exit 125
ulimit -t "$REIN_CPU_SECONDS" || exit 125
exec /bin/sh -c "$1" < /dev/null
`;
