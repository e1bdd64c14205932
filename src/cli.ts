#!/usr/bin/env node
/** `mcp-orchestrator`: the command line. Its own output goes to stdout/stderr directly. */
import { existsSync, readFileSync } from 'node:fs';
import { resolveConfigPath } from './config/locate.js';
import { defaultsWithEnv, loadConfigFile, loadConfigText } from './config/load.js';
import { formatIssues } from './config/format.js';
import { parseListen, scanListen, scanOrchestratorValue } from './config/listen.js';
import type { ListenSpec } from './config/types.js';
import type { OrchestratorStatus, ServerStatus } from './reconcile/status.js';
import type { ControllerEvent } from './reconcile/controller.js';
import type { LogLine } from './runtime/ringbuffer.js';
import type { ReloadResult } from './control/actions.js';
import { followSse, getJson, postJson, RemoteError, type Remote } from './cli/remote.js';
import { renderServers } from './cli/table.js';
import { parseCommandLine, UsageError, type ParsedValues } from './cli/args.js';
import { chooseRemote, mcpEndpoint, type LocalSettings } from './cli/target.js';

function configPath(flag: string | undefined): string {
  const found = findConfig(flag);
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

/** How `configPath` finds the file, without the error when none was named and none is there. */
function findConfig(flag: string | undefined) {
  return resolveConfigPath({ flag, env: process.env, cwd: process.cwd(), exists: existsSync });
}

/**
 * The settings `run` would read with the same config and environment: the file's `[orchestrator]`
 * with the environment's overrides or, when no file was named and none is found, or the one found
 * does not parse, the defaults with them (what `run` falls back to). A file named by --config or
 * $MCP_CONFIG_FILE that does not exist is a usage error, as it is for `run`.
 */
function localSettings(configFlag: string | undefined): LocalSettings {
  const found = findConfig(configFlag);
  const fromEnv = process.env.MCP_ORCHESTRATOR_LISTEN ? '$MCP_ORCHESTRATOR_LISTEN' : undefined;
  const named = (configFlag ?? '') !== '' || (process.env.MCP_CONFIG_FILE ?? '') !== '';
  if (!found.ok && named) throw new UsageError(found.error);
  if (found.ok) {
    try {
      const text = readFileSync(found.path, 'utf8');
      const result = loadConfigText(text, found.path, process.env);
      if (result.ok) return { listen: result.config.orchestrator.listen, token: result.config.orchestrator.token, source: fromEnv ?? `the config ${found.path}` };
      // Broken after the orchestrator started, the file may still say where it listens.
      const listen = fromEnv ? undefined : scanListen(text);
      const token = scanOrchestratorValue(text, 'token') || undefined;
      if (listen) return { listen, token, source: `the listen line of ${found.path}, which does not load` };
    } catch {
      // An unreadable config only loses the address hint; the defaults stand.
    }
  }
  const defaults = defaultsWithEnv(found.ok ? found.path : 'mcp_config.toml', process.env);
  // Only an environment override can fail here, and run would refuse it the same way.
  if (!defaults.ok) throw new UsageError(defaults.message);
  const why = found.ok ? `${found.path} does not load` : 'no config was found';
  return { listen: defaults.config.orchestrator.listen, token: undefined, source: fromEnv ?? `the default, as ${why}` };
}

const findRemote = (values: ParsedValues): Remote => chooseRemote({ url: values.url, env: process.env, local: () => localSettings(values.config) });

async function status(remote: Remote, json: boolean): Promise<number> {
  const body = await getJson<OrchestratorStatus>(remote, '/api/servers');
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

async function manual(remote: Remote, action: 'start' | 'stop' | 'restart', name: string, json: boolean): Promise<number> {
  const status = await postJson<ServerStatus>(remote, `/api/servers/${name}/${action}`);
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

/** `tail` as given on the command line: digits only, checked by parseCommandLine. */
async function logs(remote: Remote, name: string, follow: boolean, tailFlag: string | undefined): Promise<number> {
  const tail = tailFlag === undefined ? 100 : Number(tailFlag);
  const print = (line: LogLine) => (line.stream === 'stderr' ? process.stderr : process.stdout).write(`${line.line}\n`);
  if (!follow) {
    const body = await getJson<{ lines: LogLine[] }>(remote, `/api/servers/${name}/logs?tail=${tail}`);
    body.lines.forEach(print);
    return 0;
  }
  await followSse(remote, `/api/servers/${name}/logs?tail=${tail}&follow=1`, (event) => print(JSON.parse(event.data) as LogLine), untilInterrupted());
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

async function eventsCommand(remote: Remote, follow: boolean): Promise<number> {
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
    remote,
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

async function reload(remote: Remote): Promise<number> {
  const result = await postJson<ReloadResult>(remote, '/api/reload');
  // A rejected file is said to be rejected, whether or not this read was the first to find it so.
  if (result.accepted) process.stdout.write(result.changed ? `config reloaded: generation ${result.generation}\n` : `config unchanged (generation ${result.generation})\n`);
  if (result.error) process.stderr.write(`${result.error}\n`);
  return result.accepted ? 0 : 1;
}

async function connect(remote: Remote, server: string | undefined): Promise<number> {
  const url = mcpEndpoint(remote.base, server);
  const [{ runConnect }, { createLogger }] = await Promise.all([import('./gateway/connect.js'), import('./log.js')]);
  const level = (process.env.LOG_LEVEL ?? 'warn').toLowerCase() as 'info';
  return runConnect({ url, token: remote.token, log: createLogger({ destination: 'stderr', level }), signal: untilInterrupted() });
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
  const invocation = parseCommandLine(argv);
  if (invocation.kind === 'print') {
    process.stdout.write(invocation.text);
    return 0;
  }
  const { values } = invocation;
  switch (invocation.command) {
    case 'start':
    case 'stop':
    case 'restart':
      return manual(findRemote(values), invocation.command, invocation.name, values.json ?? false);
    case 'logs':
      return logs(findRemote(values), invocation.name, values.follow ?? false, values.tail);
    case 'events':
      return eventsCommand(findRemote(values), values.follow ?? false);
    case 'reload':
      return reload(findRemote(values));
    case 'run':
      return run(values);
    case 'validate':
      return validate(values.config);
    case 'status':
      return status(findRemote(values), values.json ?? false);
    case 'connect':
      return connect(findRemote(values), values.server);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || error instanceof RemoteError) {
      process.stderr.write(`mcp-orchestrator: ${(error as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`mcp-orchestrator: ${(error as Error).message ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
