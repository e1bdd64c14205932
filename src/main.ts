/**
 * The composition root: config → controller (with real effects) → one HTTP listener, plus the
 * watcher, the periodic resync and signal handling.
 */
import { dirname } from 'node:path';
import { defaultsWithEnv, loadConfigText, readConfigFile, readConfigText } from './config/load.js';
import { sha256, watchConfigFile, type ConfigWatcher } from './config/watch.js';
import type { ConfigSpec, LoadResult, OrchestratorSpec } from './config/types.js';
import { createLogger, type Logger } from './log.js';
import { Controller } from './reconcile/controller.js';
import { folderFor } from './runtime/checkouts.js';
import { realServerMachine } from './runtime/effects.js';
import { LogBook } from './runtime/logbook.js';
import { startHttpServer, type RunningHttpServer } from './control/http.js';
import { statusRoutes } from './control/status-routes.js';
import { apiRoutes } from './control/api.js';
import { createControlActions, type ControlActions, type ReloadResult } from './control/actions.js';
import { EventLog } from './control/events.js';
import { JsonRpcHandler, jsonRpcRoutes, startJsonRpcServer } from './control/jsonrpc.js';
import { Metrics, metricsRoutes } from './control/metrics.js';
import { dashboardRoutes } from './control/dashboard/routes.js';
import { generateToken, isLoopbackHost } from './control/security.js';
import type { ListenSpec, ToolFilterSpec } from './config/types.js';
import { formatListen } from './config/listen.js';
import { Gateway } from './gateway/gateway.js';
import { mcpRoutes } from './gateway/http-frontend.js';
import { serveStdio } from './gateway/stdio-frontend.js';
import { VERSION } from './version.js';

export interface RunOptions {
  configFile: string;
  /** --listen, above the config and MCP_ORCHESTRATOR_LISTEN. */
  listen?: ListenSpec;
  /** --poll */
  poll?: boolean;
  /** --stdio: serve the aggregate on stdin/stdout; logs go to stderr; stdin's end stops everything. */
  stdio?: boolean;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
}

export interface Orchestrator {
  controller: Controller;
  actions: ControlActions;
  gateway: Gateway;
  /** Undefined only under --stdio when the listener could not be bound. */
  http: RunningHttpServer | undefined;
  log: Logger;
  /** Stop every server gracefully, then the listener; resolves when all is down. */
  shutdown(): Promise<void>;
  /** Kill every server at once. */
  kill(): void;
}

/** The settings in force when the file itself is unusable: defaults plus environment overrides. */
function fallbackSettings(file: string, env: NodeJS.ProcessEnv): ConfigSpec {
  const defaults = defaultsWithEnv(file, env);
  // Only an environment override can be wrong here: nothing can run until it is fixed.
  if (!defaults.ok) throw new Error(defaults.message);
  return defaults.config;
}

export async function startOrchestrator(options: RunOptions): Promise<Orchestrator> {
  const env = options.env ?? process.env;
  const file = options.configFile;
  const first = await readConfigFile(file, env);
  let settings: OrchestratorSpec = first.result.ok ? first.result.config.orchestrator : fallbackSettings(file, env).orchestrator;
  const listen = options.listen ?? settings.listen;
  // Read at start-up only: an edit of them logs "restart to apply", so what is in force is these.
  const startup = {
    watchPoll: options.poll ?? settings.watchPoll,
    resyncIntervalMs: settings.resyncIntervalMs,
    jsonrpcPort: first.result.ok ? first.result.config.control?.jsonrpcPort : undefined,
    startupWaitMs: first.result.ok ? first.result.config.gateway.startupWaitMs : 0,
  };
  const log = options.log ?? createLogger({ level: settings.logLevel, destination: options.stdio ? 'stderr' : 'stdout' });

  const logBook = new LogBook();
  // The controller and the metrics are created just below; the gateway uses them only once requests arrive.
  const gateway: Gateway = new Gateway({
    onCall: (call) => metrics.observeCall(call),
    onRefused: (server, state) => metrics.observeRefused(server, state),
    log: log.child({ component: 'gateway' }),
    version: VERSION,
    describe: (name) => {
      if (!controller.has(name)) return undefined;
      const spec = current?.servers.find((s) => s.name === name);
      return { ...controller.serverStatus(name), held: controller.isHeld(name), servesMcp: spec === undefined || spec.transport === 'stdio' || spec.url !== undefined };
    },
  });
  const controller: Controller = new Controller({
    log,
    machine: realServerMachine({
      log,
      logBook,
      env,
      reposDir: () => settings.reposDir,
      gateway,
      version: VERSION,
      hiddenValues: () => [access.token],
    }),
    workdirFor: (spec, peers) => folderFor(spec, peers, { reposDir: settings.reposDir, configDir: dirname(file) }),
    graceMs: settings.shutdownGraceMs,
  });
  const mcp = mcpRoutes(gateway, { log: log.child({ component: 'mcp' }), hasServer: (name) => controller.has(name) });
  const events = new EventLog();
  controller.subscribe((event) => events.append(event));
  const metrics = new Metrics({ controller, events });

  let current: ConfigSpec | undefined = first.result.ok ? first.result.config : undefined;
  let appliedHash = first.text === undefined ? undefined : sha256(first.text);
  let lastAccepted = first.result.ok;
  const apply = (result: LoadResult): void => {
    lastAccepted = result.ok;
    if (result.ok) {
      gateway.registry.configure(
        result.config.gateway.separator,
        new Map<string, ToolFilterSpec>(result.config.servers.map((s) => [s.name, s.tools])),
      );
      const next = result.config.orchestrator;
      if (next.logLevel !== settings.logLevel) log.level = next.logLevel;
      const written = formatListen(next.listen);
      if (options.listen === undefined && written !== formatListen(listen) && written !== formatListen(settings.listen)) {
        log.warn({ listen: written }, 'listen changed in the config; restart the orchestrator to apply it');
      }
      // A rotated token applies at once; these others are read at start-up only, and saying so beats
      // silence: once for each new value that differs from the one in force.
      if (next.token !== settings.token) access.token = effectiveToken(next.token);
      for (const [field, inForce, before, after] of [
        ['resync_interval', startup.resyncIntervalMs, settings.resyncIntervalMs, next.resyncIntervalMs],
        ['watch_poll', startup.watchPoll, settings.watchPoll, next.watchPoll],
        ['jsonrpc_port', startup.jsonrpcPort, current?.control?.jsonrpcPort, result.config.control?.jsonrpcPort],
        // Once started, the wait is over: a first good config after a rejected start changes nothing.
        ['startup_wait', startup.startupWaitMs, current?.gateway.startupWaitMs ?? result.config.gateway.startupWaitMs, result.config.gateway.startupWaitMs],
      ] as const) {
        if (after !== before && after !== inForce) log.warn({ field }, 'this setting changed in the config; restart the orchestrator to apply it');
      }
      settings = next;
      current = result.config;
    }
    controller.applyConfig(result, file);
  };
  /** Apply the file's content; false, with nothing parsed or done, when it is what is applied already. */
  const applyText = (text: string): boolean => {
    const hash = sha256(text);
    if (hash === appliedHash) return false;
    appliedHash = hash;
    apply(loadConfigText(text, file, env, { reread: current !== undefined }));
    return true;
  };

  let watcher: ConfigWatcher | undefined;
  /** POST /api/reload and config/reload: read the file now; a file that holds what is applied changes nothing. */
  const reload = async (): Promise<ReloadResult> => {
    const read = await readConfigText(file);
    let changed = true;
    if (read.text === undefined) {
      // Whatever is read next, the same content included, is applied (the watcher asks appliedHash
      // too): the error must not outlive its cause.
      appliedHash = undefined;
      apply(read.failure);
    } else changed = applyText(read.text);
    const status = controller.status();
    return { changed, accepted: lastAccepted, generation: status.generation, error: status.configError };
  };

  let http: RunningHttpServer | undefined;
  // Periodic resync: re-read the file (a missed event, a mount without events) and reconcile.
  const resync = setInterval(() => {
    // Without a watcher (it could not start), the resync reads the file itself.
    void (watcher ? watcher.check() : reload());
    controller.reconcile('resync');
  }, settings.resyncIntervalMs);
  resync.unref();
  let serversStopped: Promise<void> | undefined;
  const stopServers = () => (serversStopped ??= controller.shutdown(settings.shutdownGraceMs));
  let shuttingDown: Promise<void> | undefined;
  const shutdown = () =>
    (shuttingDown ??= (async () => {
      clearInterval(resync);
      log.info({ graceMs: settings.shutdownGraceMs }, 'shutting down: stopping every server');
      await Promise.allSettled([watcher?.close()]);
      await stopServers();
      mcp.close();
      gateway.close();
      metrics.close();
      await Promise.allSettled([http?.close(), rpcServer?.close()]);
      log.info('all servers stopped');
    })());

  /** The accepted config with the start-up settings as they are in force (listen: the address bound). */
  const inForce = (config: ConfigSpec): ConfigSpec => ({
    ...config,
    orchestrator: {
      ...config.orchestrator,
      listen: http ? { host: listen.host, port: http.port } : listen,
      watchPoll: startup.watchPoll,
      resyncIntervalMs: startup.resyncIntervalMs,
    },
    gateway: { ...config.gateway, startupWaitMs: startup.startupWaitMs },
    ...(startup.jsonrpcPort === undefined ? { control: undefined } : { control: { jsonrpcPort: startup.jsonrpcPort } }),
  });

  const actions = createControlActions({
    controller,
    version: VERSION,
    reload,
    config: () => (current ? inForce(current) : undefined),
    shutdown: stopServers,
    exit: (code) => {
      void shutdown().finally(() => exitAfterFlush(log, code));
    },
  });
  const toolCount = (name: string): number | null => (gateway.registry.primary(name) ? gateway.registry.scoped(name).tools.length : null);

  const rpc = new JsonRpcHandler(actions, log.child({ component: 'jsonrpc' }));

  const loopback = isLoopbackHost(listen.host);
  let generated: string | undefined;
  /** The token in force: the config's, else the environment's, else (off loopback) one generated once. */
  const effectiveToken = (configured: string | undefined): string | undefined => {
    const chosen = configured || env.MCP_ORCHESTRATOR_TOKEN || undefined;
    if (chosen !== undefined || loopback) return chosen;
    if (generated === undefined) {
      generated = generateToken();
      // Printed once, on purpose: without it nobody could call the API.
      log.warn(`no token configured and listening on ${listen.host}; generated one for this run: ${generated} (set MCP_ORCHESTRATOR_TOKEN to choose your own)`);
    }
    return generated;
  };
  // Mutable on purpose: a token edited in the config applies to the next request.
  const access: { token: string | undefined; loopbackOnly: boolean } = { token: effectiveToken(settings.token), loopbackOnly: loopback };
  // A client that connects as we start (above all one that started us, under --stdio) gets its
  // initialize answer once the servers it sees are up, at most [gateway] startup_wait after our start.
  const startupDeadline = Date.now() + startup.startupWaitMs;
  let firstApplied: () => void = () => {};
  const applied = new Promise<void>((resolve) => (firstApplied = resolve));
  let allStarted = false;
  gateway.holdInitialize((scope) => {
    if (allStarted || Date.now() >= startupDeadline) return undefined;
    return applied.then(() => serversStarted(controller, startupDeadline - Date.now(), scope));
  });
  try {
    http = await startHttpServer({
      host: listen.host,
      port: listen.port,
      routes: [
        ...statusRoutes(controller),
        ...apiRoutes({ actions, events, logBook, toolCount, settled: () => controller.idle(), log: log.child({ component: 'api' }) }),
        ...jsonRpcRoutes(rpc),
        ...metricsRoutes(metrics),
        ...mcp.routes,
        ...dashboardRoutes(),
      ],
      access,
      log: log.child({ component: 'http' }),
    });
    log.info({ url: http.url, mcp: `${http.url}/mcp`, config: file, generation: 0 }, 'orchestrator listening');
  } catch (error) {
    // A stdio client may start many orchestrators; the API is a convenience for them, not a need.
    if (!options.stdio) throw error;
    log.warn({ err: error }, 'no HTTP listener: serving MCP on stdio only');
  }

  let rpcServer: RunningHttpServer | undefined;
  const rpcPort = startup.jsonrpcPort;
  if (rpcPort !== undefined) {
    try {
      rpcServer = await startJsonRpcServer({ host: listen.host, port: rpcPort, handler: rpc, access, log: log.child({ component: 'jsonrpc' }) });
      log.info({ url: rpcServer.url }, 'JSON-RPC control listening on its own port');
    } catch (error) {
      log.error({ err: error }, 'cannot open the JSON-RPC control port; POST /rpc on the main listener still works');
    }
  }

  try {
    apply(first.result);
  } finally {
    firstApplied();
  }
  void serversStarted(controller, startupDeadline - Date.now(), undefined, log).finally(() => (allStarted = true));

  try {
    watcher = await watchConfigFile(file, {
      // Unset unless asked for, so CHOKIDAR_USEPOLLING still decides.
      poll: options.poll ?? (settings.watchPoll || undefined),
      applied: () => appliedHash,
      log: log.child({ component: 'watch' }),
      onChange: applyText,
    });
  } catch (error) {
    log.error({ err: error }, 'cannot watch the config folder; edits will be picked up by the periodic resync only');
  }

  return {
    controller,
    actions,
    gateway,
    http,
    log,
    shutdown,
    kill: () => {
      clearInterval(resync);
      void watcher?.close();
      controller.killAll();
    },
  };
}

/**
 * Resolves once every enabled server (or only the one named `only`) is ready or has given up for
 * now (backoff, failed, stopped), or after `waitMs`, whichever comes first; never rejects. With
 * `log`, says which it was.
 */
function serversStarted(controller: Controller, waitMs: number, only?: string, log?: Logger): Promise<void> {
  const begun = Date.now();
  const pending = () => controller.startingServers(only);
  return new Promise<void>((resolve) => {
    if (waitMs <= 0 || pending().length === 0) {
      resolve();
      return;
    }
    let settled = false;
    const done = (timedOut: boolean) => {
      if (settled) return;
      settled = true;
      resolve();
      clearTimeout(timer);
      unsubscribe();
      if (timedOut) log?.warn({ waitedMs: Date.now() - begun, starting: pending() }, 'startup_wait is over with servers still starting; clients are told when they are ready');
      else log?.info({ waitedMs: Date.now() - begun }, 'servers started; answering the clients that connected meanwhile');
    };
    const timer = setTimeout(() => done(true), waitMs);
    timer.unref();
    const unsubscribe = controller.subscribe((event) => {
      if (event.type === 'transition' && pending().length === 0) done(false);
    });
  });
}

/**
 * `run`: start, then wait for SIGTERM/SIGINT. The first signal stops everything gracefully and
 * exits 0; a second SIGINT (or SIGTERM) kills every server at once.
 */
export async function runUntilSignalled(options: RunOptions): Promise<never> {
  const orchestrator = await startOrchestrator(options);
  if (options.stdio) {
    void serveStdio(orchestrator.gateway, { input: process.stdin, output: process.stdout }).then(() => {
      // The client that started us has gone: so do we, cleanly.
      orchestrator.log.info('stdin closed; stopping');
      void orchestrator.shutdown().then(() => exitAfterFlush(orchestrator.log, 0));
    });
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) {
      orchestrator.log.info({ signal }, 'signal received; stopping (send it again to kill at once)');
      void orchestrator.shutdown().then(
        () => exitAfterFlush(orchestrator.log, 0),
        (error: unknown) => {
          orchestrator.log.error({ err: error }, 'shutdown failed');
          exitAfterFlush(orchestrator.log, 1);
        },
      );
      return;
    }
    orchestrator.log.warn({ signal }, 'second signal: killing every server now');
    orchestrator.kill();
    exitAfterFlush(orchestrator.log, 130);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return new Promise<never>(() => {});
}

function exitAfterFlush(log: Logger, code: number): void {
  log.flush(() => process.exit(code));
}
