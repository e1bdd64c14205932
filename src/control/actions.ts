/**
 * What an operator can do, whatever the door (HTTP API, JSON-RPC, dashboard): one implementation,
 * with errors that carry the status a person can act on.
 */
import { formatDuration } from '../config/duration.js';
import { formatListen } from '../config/listen.js';
import type { ConfigSpec, InstallSpec } from '../config/types.js';
import type { Controller } from '../reconcile/controller.js';
import { manualAction, type OrchestratorStatus, type ServerStatus } from '../reconcile/status.js';
import { REDACTED, redactUrl, scrub } from '../runtime/redact.js';

export type ActionErrorKind = 'not-found' | 'conflict' | 'bad-request';

export class ActionError extends Error {
  constructor(
    readonly kind: ActionErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export interface ReloadResult {
  /** False when the file held what was already applied. */
  changed: boolean;
  accepted: boolean;
  generation: number;
  error: string | null;
}

export interface ControlActions {
  readonly version: string;
  list(): OrchestratorStatus;
  server(name: string): ServerStatus;
  start(name: string): ServerStatus;
  stop(name: string): ServerStatus;
  restart(name: string): ServerStatus;
  reload(): Promise<ReloadResult>;
  /** The effective config with every env value, token and URL credential redacted. */
  config(): RedactedConfig | null;
  /** Stop every server gracefully; resolves when all are down. */
  shutdown(): Promise<void>;
  /** End the process with this code (after the answer is sent). */
  exit(code: number): void;
}

export interface ActionDeps {
  controller: Controller;
  version: string;
  reload(): Promise<ReloadResult>;
  config(): ConfigSpec | undefined;
  shutdown(): Promise<void>;
  exit(code: number): void;
}

export type RedactedConfig = ReturnType<typeof redactConfig>;

/** An install spec as the config writes it. */
const installText = (install: InstallSpec): string => (install.kind === 'command' ? install.command : install.kind);

/**
 * The effective config as the API shows it, in the file's own keys (`[orchestrator] log_level`,
 * `[[server]] startup_timeout = "30s"`) with every default filled in and every override applied.
 * Env values and the token never leave the process, nor does any value substituted from the
 * environment wherever it was used (a command, a URL), nor credentials in URLs.
 */
export function redactConfig(config: ConfigSpec) {
  const secrets = config.secrets ?? [];
  const clean = (text: string) => scrub(redactUrl(text), secrets);
  const cleanDeep = (value: unknown): unknown => {
    if (typeof value === 'string') return clean(value);
    if (Array.isArray(value)) return value.map(cleanDeep);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cleanDeep(v)]));
    return value;
  };
  const { orchestrator: o } = config;
  const shown = {
    file: config.file,
    orchestrator: {
      listen: formatListen(o.listen),
      repos_dir: o.reposDir,
      log_level: o.logLevel,
      shutdown_grace: formatDuration(o.shutdownGraceMs),
      token: o.token === undefined ? null : REDACTED,
      watch_poll: o.watchPoll,
      resync_interval: formatDuration(o.resyncIntervalMs),
    },
    gateway: { separator: config.gateway.separator, startup_wait: formatDuration(config.gateway.startupWaitMs) },
    control: config.control?.jsonrpcPort === undefined ? {} : { jsonrpc_port: config.control.jsonrpcPort },
    server: config.servers.map((s) => ({
      name: s.name,
      ...(s.repo === undefined ? {} : { repo: s.repo }),
      ...(s.ref === undefined ? {} : { ref: s.ref }),
      command: s.command,
      env: Object.fromEntries(Object.keys(s.env).map((key) => [key, REDACTED])),
      transport: s.transport,
      ...(s.url === undefined ? {} : { url: s.url }),
      install: installText(s.install),
      cwd: s.cwd,
      enabled: s.enabled,
      restart: s.restart,
      startup_timeout: formatDuration(s.startupTimeoutMs),
      tools: { allow: s.tools.allow, deny: s.tools.deny },
    })),
  };
  // Only strings change, each into a string: the shape is the same.
  return cleanDeep(shown) as typeof shown;
}

export function createControlActions(deps: ActionDeps): ControlActions {
  const { controller } = deps;
  const known = (name: string): void => {
    if (!controller.has(name)) throw new ActionError('not-found', `no server named "${name}" in the config; "mcp-orchestrator status" (GET /api/servers) lists them`);
  };
  const enabled = (name: string, action: string): void => {
    known(name);
    if (!controller.isEnabled(name)) {
      const status = controller.serverStatus(name);
      const why = status.reason === 'InvalidConfig' ? 'its config entry is invalid; fix it first' : 'it is disabled in the config (enabled = false)';
      throw new ActionError('conflict', `cannot ${action} "${name}": ${why}`);
    }
  };
  return {
    version: deps.version,
    list: () => controller.status(),
    server: (name) => {
      known(name);
      return controller.serverStatus(name);
    },
    start: (name) => {
      enabled(name, 'start');
      const status = controller.serverStatus(name);
      if (!controller.isHeld(name) && status.state !== 'stopped' && status.state !== 'failed') {
        const restart = manualAction('restart', name);
        if (status.state === 'backoff') {
          const next = status.nextRetryAt ? `, next retry at ${status.nextRetryAt}` : '';
          throw new ActionError('conflict', `"${name}" is waiting to retry after a failure (backoff${next}); to retry now, restart it: ${restart}`);
        }
        throw new ActionError('conflict', `"${name}" is not stopped: its state is ${status.state}; restart it instead: ${restart}`);
      }
      controller.release(name);
      return controller.serverStatus(name);
    },
    stop: (name) => {
      enabled(name, 'stop');
      const start = `start it with ${manualAction('start', name)}`;
      if (controller.isHeld(name)) throw new ActionError('conflict', `"${name}" is already stopped by a manual stop; ${start}`);
      const state = controller.serverStatus(name).state;
      if (state === 'stopped' || state === 'failed') throw new ActionError('conflict', `"${name}" is not running: its state is ${state}; ${start}`);
      controller.hold(name);
      return controller.serverStatus(name);
    },
    restart: (name) => {
      enabled(name, 'restart');
      controller.restart(name);
      return controller.serverStatus(name);
    },
    reload: () => deps.reload(),
    config: () => {
      const config = deps.config();
      return config ? redactConfig(config) : null;
    },
    shutdown: () => deps.shutdown(),
    exit: (code) => deps.exit(code),
  };
}
