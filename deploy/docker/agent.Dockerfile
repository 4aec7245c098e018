# syntax=docker/dockerfile:1.7
# Agent base image: what an attempt pod runs in (the Kubernetes executor backend starts one Job per
# attempt from it). It holds tools, never credentials: the workspace is cloned over git smart HTTP
# from the executor into an emptyDir, and secrets arrive by name from Kubernetes Secrets.
#   docker build -f deploy/docker/agent.Dockerfile -t ghcr.io/OWNER/rein-agent:0.1.0 deploy/docker
# Extend it for your agents, e.g. FROM ghcr.io/OWNER/rein-agent:0.1.0 then
# RUN npm install -g @anthropic-ai/claude-code@2.1.330 (as root, then USER 10001 again).

ARG BASE_IMAGE=node:20.20-bookworm-slim
FROM ${BASE_IMAGE}

# git: clone and push the workspace; bash: hooks and test gates; build-essential, python3, make,
# jq, curl, unzip: what common repositories' tests need; ripgrep: agents search with it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      bash ca-certificates curl git jq less openssh-client procps \
      build-essential make python3 python3-venv unzip xz-utils ripgrep tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 agent \
 && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/agent --shell /bin/bash agent \
 && mkdir -p /workspace && chown 10001:10001 /workspace

# The pod runs with a read-only root filesystem: HOME, caches and /tmp are emptyDirs, so point
# every tool's cache there.
ENV HOME=/home/agent \
    XDG_CACHE_HOME=/tmp/.cache \
    npm_config_cache=/tmp/.npm \
    GIT_TERMINAL_PROMPT=0
USER 10001:10001
WORKDIR /workspace
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["bash"]
