#!/usr/bin/env bash
# Installs what Rein's tests need on a fresh Debian machine, then the npm packages.
# System packages: nats-server (JetStream), redis-server, bubblewrap (the local sandbox), git,
# Chromium (the inspector's browser tests), and Go with sprig and yaml.v2 (the chart tests render
# the Helm chart with them when helm is absent).
#
# `--runtime` installs only what `rein up` itself needs (bubblewrap, git, util-linux's setpriv and
# prlimit) and nothing from npm: `npm start` runs it first, so a new user's first command works.
set -euo pipefail
cd "$(dirname "$0")/.."

install_debian() {
  echo "setup: installing $* with apt-get"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "setup: cannot install $* (not root and no sudo): install them with your package manager" >&2
      return 1
    fi
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if [ "${1:-}" = "--runtime" ]; then
  need=()
  command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
  command -v git >/dev/null 2>&1 || need+=(git)
  { command -v setpriv && command -v prlimit; } >/dev/null 2>&1 || need+=(util-linux)
  if [ ${#need[@]} -gt 0 ]; then install_debian "${need[@]}"; fi
  exit 0
fi

need=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v git >/dev/null 2>&1 || need+=(git)
command -v curl >/dev/null 2>&1 || need+=(curl)
# The inspector's browser tests drive Debian's Chromium with playwright-core (no browser download).
[ -x /usr/bin/chromium ] || need+=(chromium)
# The chart tests render with a small Go renderer when `helm` is absent (Go text/template + sprig).
for pkg in golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then install_debian "${need[@]}"; fi

echo "setup: npm ci"
npm ci --no-audit --no-fund

# The real agent CLIs the runtime tests drive (a separate project, so the product stays lean).
echo "setup: npm ci --prefix tools/agents"
npm ci --prefix tools/agents --no-audit --no-fund
