# syntax=docker/dockerfile:1
#
# mcp-orchestrator: one container that runs many MCP servers from /opt/mcps/mcp_config.toml.
#
#   docker build -t mcp-orchestrator .
#   docker run --rm -p 127.0.0.1:8080:8080 -e MCP_ORCHESTRATOR_TOKEN=change-me \
#     -v "$PWD/config:/opt/mcps/config" -e MCP_CONFIG_FILE=/opt/mcps/config/mcp_config.toml \
#     mcp-orchestrator
#
# Mount the config's FOLDER, never the single file: a single-file bind mount pins the inode the
# file had at start, so an editor's atomic save (write a temp file, rename it over) is never seen
# inside the container. See examples/docker-compose.yml.
#
# Node 26 is the Active LTS line (since October 2026; the npm `node` package is at 26.10); the
# official image publishes `26-trixie-slim` (Debian 13 slim). Both stages use the same base so
# native modules built by `npm ci` match the runtime's libc and Node ABI. The code runs on
# Node >= 20.19 (package.json engines), so `--build-arg NODE_VERSION=24` works too.
ARG NODE_VERSION=26

# ---------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-trixie-slim AS build
WORKDIR /app

# Dependencies first: this layer is reused until package.json or the lockfile changes.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY machines ./machines
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-trixie-slim AS runtime

# git clones the servers' repos (https needs ca-certificates); python3 + venv install Python
# servers into a per-server .venv; tini is PID 1 (below). No curl: the HEALTHCHECK uses node.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      git \
      python3 \
      python3-venv \
      tini \
 && rm -rf /var/lib/apt/lists/*

# The app is owned by root and read-only for the user that runs it.
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The dashboard's page, script and styles are served as they are (no build step): the compiled
# routes read them from src/control/dashboard beside dist/.
COPY --from=build /app/src/control/dashboard ./src/control/dashboard

# /opt/mcps is the orchestrator's home: the default config, the clones (repos/) and server data
# (data/). The folders exist in the image, owned by `node`, so a fresh named volume mounted on
# them starts with that ownership. ~/.npm is created for the same reason (npx cache volume).
COPY --chown=node:node mcp_config.toml /opt/mcps/mcp_config.toml
RUN mkdir -p /opt/mcps/repos /opt/mcps/data /home/node/.npm \
 && chown -R node:node /opt/mcps /home/node/.npm

# The node image's unprivileged user (uid 1000, gid 1000, HOME=/home/node).
USER node
WORKDIR /opt/mcps

# MCP_ORCHESTRATOR_LISTEN overrides the config's `listen`: off loopback a bearer token is required
# (MCP_ORCHESTRATOR_TOKEN, else one is generated at start and printed once in the log).
ENV MCP_CONFIG_FILE=/opt/mcps/mcp_config.toml \
    MCP_ORCHESTRATOR_LISTEN=0.0.0.0:8080 \
    NODE_ENV=production
EXPOSE 8080

# /healthz needs no token. Slim images have no curl, so node's fetch does the probe; the port is
# taken from MCP_ORCHESTRATOR_LISTEN (a `--listen` given on the command line is not seen here).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const p=(/:([0-9]+)$/.exec(process.env.MCP_ORCHESTRATOR_LISTEN||'')||[])[1]||'8080';fetch('http://127.0.0.1:'+p+'/healthz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# tini is PID 1: it reaps orphans (servers' grandchildren re-parented to PID 1) and, with -g,
# forwards SIGTERM/SIGINT to node's whole process group. The orchestrator then stops every server
# within [orchestrator] shutdown_grace (default 10s). `docker stop` waits only 10s by default:
# give it more (`docker stop -t 30`, compose `stop_grace_period: 30s`) or the servers get SIGKILL.
ENTRYPOINT ["tini", "-g", "--", "node", "/app/dist/src/cli.js"]
CMD ["run"]
