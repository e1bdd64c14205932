#!/usr/bin/env node
/** `mcp-orchestrator`: the command line. Its own output goes to stdout/stderr directly. */
import { existsSync, readFileSync } from 'node:fs';
import { VERSION } from './version.js';
import { parseArgs } from 'node:util';
import { resolveConfigPath } from './config/locate.js';
import { loadConfigFile, loadConfigText } from './config/load.js';
import { formatIssues } from './config/format.js';
import { NAME_PATTERN } from './config/names.js';
import { parseListen } from './config/listen.js';
import type { ListenSpec } from './config/types.js';
import type { OrchestratorStatus, ServerStatus } from './reconcile/status.js';
import type { ControllerEvent } from './reconcile/controller.js';
import type { LogLine } from './runtime/ringbuffer.js';
import type { ReloadResult } from './control/actions.js';
import { followSse, getJson, postJson, RemoteError } from './cli/remote.js';
import { renderServers } from './cli/table.js';


const HELP = `mcp-orchestrator ${VERSION}: runs the MCP servers of a TOML file and keeps them converged on it.

Usage:
  mcp-orchestrator [run] [--config FILE] [--listen HOST:PORT] [--poll] [--stdio]
      Start every server of the config, watch the file, serve the API and the aggregated MCP
      endpoint (/mcp). Stops on SIGTERM/SIGINT (a second SIGINT kills at once). With --stdio, also
      serve the aggregate as a stdio MCP server on stdin/stdout (logs on stderr); stdin's end stops it.
  mcp-orchestrator validate [--config FILE]
      Check the config; print every problem as FILE:LINE:COL. Exit 0 when valid, 1 when not.
  mcp-orchestrator status [--json] [--url URL]
      Show every server of a running orchestrator as a table (or the raw JSON).
  mcp-orchestrator start|stop|restart NAME [--url URL]
      Manual control of one server: a stop holds until a start or a change of the server's spec;
      restart stops it gracefully and starts a new process.
  mcp-orchestrator logs NAME [-f] [--tail N] [--url URL]
      The server's recent output (the last 100 lines by default), then with -f its new lines live.
  mcp-orchestrator events [-f] [--url URL]
      Recent state transitions, config loads and manual actions; with -f, live.
  mcp-orchestrator reload [--url URL]
      Re-read the config file now.
  mcp-orchestrator connect [--url URL] [--server NAME]
      Bridge stdin/stdout to a running orchestrator's MCP endpoint (all servers, or one with
      --server): for "docker exec -i CONTAINER mcp-orchestrator connect" in a stdio client's config.

Options:
  --config FILE        the config (else $MCP_CONFIG_FILE, ./mcp_config.toml, /opt/mcps/mcp_config.toml)
  --listen HOST:PORT   where to serve (else $MCP_ORCHESTRATOR_LISTEN, else [orchestrator] listen, else 127.0.0.1:8080)
  --poll               watch the config by polling (for mounts without file events; or CHOKIDAR_USEPOLLING=1)
  --stdio              serve MCP on stdin/stdout too (for "docker run -i IMAGE run --stdio" in a client's config)
  --url URL            a running orchestrator (else $MCP_ORCHESTRATOR_URL, else the config's listen address)
  --server NAME        connect to one server's endpoint (/servers/NAME/mcp), its tools unprefixed
  --json               machine-readable output
  -f, --follow         keep streaming (logs, events)
  --tail N             how many recent lines to show first (logs; default 100)
  -h, --help           this help
  -v, --version        the version

Environment:
  MCP_CONFIG_FILE, MCP_ORCHESTRATOR_LISTEN, MCP_REPOS_DIR, LOG_LEVEL, CHOKIDAR_USEPOLLING,
  MCP_ORCHESTRATOR_TOKEN (the bearer token; required off loopback), MCP_ORCHESTRATOR_URL.
`;

class UsageError extends Error {}

function configPath(flag: string | undefined): string {
  const found = resolveConfigPath({ flag, env: process.env, cwd: process.cwd(), exists: existsSync });
  if (!found.ok) throw new UsageError(found.error);
  return found.path;
}

async function validate(flag: string | undefined): Promise<number> {
  const file = configPath(flag);
  const result = await loadConfigFile(file, process.env);
  if (!result.ok) {
    process.stderr.write(`${formatIssues(result.issues)}\n${file}: rejected, ${result.issues.length} problem(s)\n`);
    return 1;
  }
  const names = result.config.servers.map((s) => s.name);
  if (result.issues.length > 0) {
    process.stderr.write(`${formatIssues(result.issues)}\n`);
    process.stderr.write(`${file}: ${result.issues.length} problem(s); ${names.length} valid server(s)${names.length ? `: ${names.join(', ')}` : ''}\n`);
    return 1;
  }
  process.stdout.write(`${file}: valid, ${names.length} server(s)${names.length ? `: ${names.join(', ')}` : ''}\n`);
  return 0;
}

/** Where a running orchestrator is: --url, $MCP_ORCHESTRATOR_URL, or the config's listen. */
function orchestratorUrl(flag: string | undefined, configFlag: string | undefined): string {
  const explicit = flag ?? process.env.MCP_ORCHESTRATOR_URL;
  if (explicit) return explicit.replace(/\/+$/, '');
  let listen: ListenSpec = { host: '127.0.0.1', port: 8080 };
  const found = resolveConfigPath({ flag: configFlag, env: process.env, cwd: process.cwd(), exists: existsSync });
  if (found.ok) {
    try {
      const result = loadConfigText(readFileSync(found.path, 'utf8'), found.path, process.env);
      if (result.ok) listen = result.config.orchestrator.listen;
    } catch {
      // An unreadable config only loses the address hint; the default stands.
    }
  }
  const host = ['0.0.0.0', '::', '[::]'].includes(listen.host) ? '127.0.0.1' : listen.host.includes(':') && !listen.host.startsWith('[') ? `[${listen.host}]` : listen.host;
  return `http://${host}:${listen.port}`;
}

async function status(urlFlag: string | undefined, configFlag: string | undefined, json: boolean): Promise<number> {
  const base = orchestratorUrl(urlFlag, configFlag);
  const body = await getJson<OrchestratorStatus>(base, '/api/servers');
  if (json) {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(`${renderServers(body.servers)}\n`);
  const lag = body.observedGeneration < body.generation ? ` (reconciling generation ${body.generation})` : '';
  process.stdout.write(`\nconfig ${body.configFile ?? ''} generation ${body.observedGeneration}${lag}\n`);
  if (body.configError) process.stdout.write(`\nconfig problems:\n${body.configError}\n`);
  return 0;
}

async function manual(base: string, action: 'start' | 'stop' | 'restart', name: string, json: boolean): Promise<number> {
  const status = await postJson<ServerStatus>(base, `/api/servers/${name}/${action}`);
  if (json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
  else process.stdout.write(`${name}: ${action} requested; now ${status.state}${status.pid ? ` (pid ${status.pid})` : ''}\n`);
  return 0;
}

function untilInterrupted(): AbortSignal {
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  return abort.signal;
}

async function logs(base: string, name: string, follow: boolean, tailFlag: string | undefined): Promise<number> {
  const tail = tailFlag === undefined ? 100 : Number(tailFlag);
  if (!Number.isInteger(tail) || tail < 0) throw new UsageError(`--tail ${tailFlag}: give a whole number of lines`);
  const print = (line: LogLine) => (line.stream === 'stderr' ? process.stderr : process.stdout).write(`${line.line}\n`);
  if (!follow) {
    const body = await getJson<{ lines: LogLine[] }>(base, `/api/servers/${name}/logs?tail=${tail}`);
    body.lines.forEach(print);
    return 0;
  }
  await followSse(base, `/api/servers/${name}/logs?tail=${tail}&follow=1`, (event) => print(JSON.parse(event.data) as LogLine), untilInterrupted());
  return 0;
}

function describeEvent(event: ControllerEvent): string {
  switch (event.type) {
    case 'transition':
      return `${event.at}  ${event.server}  ${event.from} → ${event.to}  ${event.reason}${event.message ? `: ${event.message}` : ''}`;
    case 'config':
      return `${event.at}  config  generation ${event.generation} ${event.accepted ? 'loaded' : 'rejected'}${event.error ? `: ${event.error.split('\n')[0]}` : ''}`;
    case 'action':
      return `${event.at}  ${event.server}  ${event.action} requested`;
    case 'exit':
      return `${event.at}  ${event.server}  exited ${event.signal ? `by ${event.signal}` : `with code ${event.code}`}`;
  }
}

async function eventsCommand(base: string, follow: boolean): Promise<number> {
  const signal = untilInterrupted();
  // The log keeps the recent events; without -f, read what is there and stop when it goes quiet.
  const quiet = follow ? undefined : new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const settle = () => {
    clearTimeout(timer);
    timer = setTimeout(() => quiet?.abort(), 300);
  };
  settle();
  await followSse(
    base,
    '/api/events?since=0',
    (event) => {
      process.stdout.write(`${describeEvent(JSON.parse(event.data) as ControllerEvent)}\n`);
      if (quiet) settle();
    },
    quiet ? AbortSignal.any([signal, quiet.signal]) : signal,
  );
  clearTimeout(timer);
  return 0;
}

async function reload(base: string): Promise<number> {
  const result = await postJson<ReloadResult>(base, '/api/reload');
  if (!result.changed) process.stdout.write(`config unchanged (generation ${result.generation})\n`);
  else if (result.accepted) process.stdout.write(`config reloaded: generation ${result.generation}\n`);
  if (result.error) process.stderr.write(`${result.error}\n`);
  return result.accepted ? 0 : 1;
}

async function connect(urlFlag: string | undefined, configFlag: string | undefined, server: string | undefined): Promise<number> {
  if (server !== undefined && !NAME_PATTERN.test(server)) throw new UsageError(`--server ${server}: not a server name`);
  const base = orchestratorUrl(urlFlag, configFlag);
  const url = server === undefined ? `${base}/mcp` : `${base}/servers/${server}/mcp`;
  const [{ runConnect }, { createLogger }] = await Promise.all([import('./gateway/connect.js'), import('./log.js')]);
  const level = (process.env.LOG_LEVEL ?? 'warn').toLowerCase() as 'info';
  return runConnect({ url, token: process.env.MCP_ORCHESTRATOR_TOKEN || undefined, log: createLogger({ destination: 'stderr', level }), signal: untilInterrupted() });
}

async function run(args: { config?: string; listen?: string; poll?: boolean; stdio?: boolean }): Promise<number> {
  let listen: ListenSpec | undefined;
  if (args.listen !== undefined) {
    const parsed = parseListen(args.listen);
    if (!parsed.ok) throw new UsageError(`--listen ${args.listen}: ${parsed.message}`);
    listen = parsed.listen;
  }
  const file = configPath(args.config);
  const { runUntilSignalled } = await import('./main.js');
  await runUntilSignalled({ configFile: file, listen, poll: args.poll, stdio: args.stdio });
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      listen: { type: 'string' },
      poll: { type: 'boolean' },
      stdio: { type: 'boolean' },
      url: { type: 'string' },
      json: { type: 'boolean' },
      server: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
      tail: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [command = 'run', ...rest] = positionals;
  const takesName = ['start', 'stop', 'restart', 'logs'].includes(command);
  if (rest.length > (takesName ? 1 : 0)) throw new UsageError(`unexpected argument "${rest[takesName ? 1 : 0]}" after "${command}"`);
  const name = (): string => {
    const given = rest[0];
    if (given === undefined) throw new UsageError(`${command} needs a server name: mcp-orchestrator ${command} NAME`);
    if (!NAME_PATTERN.test(given)) throw new UsageError(`"${given}" is not a server name`);
    return given;
  };
  const base = () => orchestratorUrl(values.url, values.config);
  switch (command) {
    case 'start':
    case 'stop':
    case 'restart':
      return manual(base(), command, name(), values.json ?? false);
    case 'logs':
      return logs(base(), name(), values.follow ?? false, values.tail);
    case 'events':
      return eventsCommand(base(), values.follow ?? false);
    case 'reload':
      return reload(base());
    case 'run':
      return run(values);
    case 'validate':
      return validate(values.config);
    case 'status':
      return status(values.url, values.config, values.json ?? false);
    case 'connect':
      return connect(values.url, values.config, values.server);
    default:
      throw new UsageError(`unknown command "${command}"; see mcp-orchestrator --help`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || error instanceof RemoteError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`mcp-orchestrator: ${(error as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`mcp-orchestrator: ${(error as Error).message ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
