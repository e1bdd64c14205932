/**
 * The desired state, as read from mcp_config.toml after interpolation and validation.
 * Field names are camelCase here; the TOML keys are snake_case (see README "Configuration").
 */

export type Transport = 'http' | 'stdio';
export type RestartPolicy = 'always' | 'on-failure' | 'never';

/** `auto` detects package.json / requirements.txt / setup.py / pyproject.toml; `none` skips; else a shell command. */
export type InstallSpec = { kind: 'auto' } | { kind: 'none' } | { kind: 'command'; command: string };

export interface ToolFilterSpec {
  allow: string[];
  deny: string[];
}

export interface ServerSpec {
  /** `[A-Za-z0-9][A-Za-z0-9_-]{0,31}`: names the clone folder, log binding, tool prefix and API path. */
  name: string;
  /** Git URL, possibly with credentials: never log it without `redactUrl`. */
  repo?: string;
  ref?: string;
  /** A string runs through `/bin/sh -c`; an array runs without a shell. */
  command: string | string[];
  env: Record<string, string>;
  transport: Transport;
  url?: string;
  install: InstallSpec;
  /** Relative to the clone (or to the config file's folder for a server without `repo`). */
  cwd: string;
  enabled: boolean;
  restart: RestartPolicy;
  startupTimeoutMs: number;
  tools: ToolFilterSpec;
}

export interface ListenSpec {
  host: string;
  port: number;
}

export interface OrchestratorSpec {
  listen: ListenSpec;
  /** Absolute. */
  reposDir: string;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  shutdownGraceMs: number;
  token?: string;
  /** Watch the config with polling instead of native events (also `CHOKIDAR_USEPOLLING=1`). */
  watchPoll: boolean;
  /** How often the controller re-reads the config and reconciles even without an event. */
  resyncIntervalMs: number;
}

export interface GatewaySpec {
  separator: string;
  /**
   * How long a client connecting while the orchestrator starts waits for its `initialize` answer,
   * until every enabled server is ready or has given up, so its first listing holds their tools.
   */
  startupWaitMs: number;
}

/** `[control]`: extra doors onto the control API. */
export interface ControlSpec {
  /** A dedicated JSON-RPC 2.0 listener on this port (same host as `listen`); absent means none. */
  jsonrpcPort?: number;
}

export interface ConfigSpec {
  /** Absolute path of the file this came from. */
  file: string;
  orchestrator: OrchestratorSpec;
  gateway: GatewaySpec;
  /** Present when the file has a `[control]` section. */
  control?: ControlSpec;
  /** Only the valid entries, in file order, with unique names. */
  servers: ServerSpec[];
  /**
   * Values substituted from the environment (`${VAR}`), present only when there are some: whatever
   * shows the config (API, messages) replaces them with `[redacted]`.
   */
  secrets?: string[];
}

/** A located problem in the config file. `line`/`column` are 1-based. */
export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  /** Field path such as `server[1].transport` or `orchestrator.listen`. */
  path: string;
  /** The server's name when the issue belongs to one entry and its name is known. */
  server?: string;
  message: string;
}

export type LoadResult =
  /** The whole file was rejected (unparseable TOML, or an invalid global section). */
  | { ok: false; issues: ConfigIssue[] }
  /**
   * The file was accepted. `issues` lists entries rejected alone; `rejectedNames` are the names
   * of those entries where a name could be told, so the controller keeps their last good spec.
   */
  | { ok: true; config: ConfigSpec; issues: ConfigIssue[]; rejectedNames: string[] };
