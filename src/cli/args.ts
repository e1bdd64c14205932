/**
 * The command line's grammar: every command with the options it takes, the help texts made from
 * the same table, and the checks that turn a mistyped command line into a message saying what to
 * type instead. Pure: nothing here reads the environment or the file system.
 */
import { parseArgs } from 'node:util';
import { NAME_PATTERN } from '../config/names.js';
import { VERSION } from '../version.js';

/** A mistake on the command line: printed as it is, exit code 2. */
export class UsageError extends Error {}

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** How the option reads in usage lines: `--tail N`. */
  usage: string;
  about: string;
}

const OPTIONS = {
  config: { type: 'string', short: 'c', usage: '-c, --config FILE', about: 'the config (else $MCP_CONFIG_FILE, ./mcp_config.toml, /opt/mcps/mcp_config.toml)' },
  listen: { type: 'string', usage: '--listen HOST:PORT', about: 'where to serve (else $MCP_ORCHESTRATOR_LISTEN, else [orchestrator] listen, else 127.0.0.1:8080)' },
  poll: { type: 'boolean', usage: '--poll', about: 'watch the config by polling (for mounts without file events; or CHOKIDAR_USEPOLLING=1)' },
  stdio: { type: 'boolean', usage: '--stdio', about: 'serve MCP on stdin/stdout too (for "docker run -i IMAGE run --stdio" in a client\'s config)' },
  url: {
    type: 'string',
    usage: '--url URL',
    about: "a running orchestrator (else $MCP_ORCHESTRATOR_URL, else $MCP_ORCHESTRATOR_LISTEN, else the config's listen, else 127.0.0.1:8080)",
  },
  server: { type: 'string', usage: '--server NAME', about: "connect to one server's endpoint (/servers/NAME/mcp), its tools unprefixed" },
  json: { type: 'boolean', usage: '--json', about: 'machine-readable output' },
  follow: { type: 'boolean', short: 'f', usage: '-f, --follow', about: 'keep streaming new ones until Ctrl-C' },
  tail: { type: 'string', usage: '--tail N', about: 'how many recent lines to show first (default 100)' },
  help: { type: 'boolean', short: 'h', usage: '-h, --help', about: 'this help (after a command: that command\'s help)' },
  version: { type: 'boolean', short: 'v', usage: '-v, --version', about: 'the version' },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

interface CommandSpec {
  /** What follows the command's name in its usage line. */
  operands: string;
  about: string;
  options: readonly OptionName[];
}

/** Every command that talks to a running orchestrator finds it with these two. */
const REMOTE = ['url', 'config'] as const;

const COMMANDS = {
  run: {
    operands: '',
    about:
      'Start every server of the config, watch the file, serve the API and the aggregated MCP endpoint (/mcp). ' +
      'Stops on SIGTERM/SIGINT (a second SIGINT kills at once). With --stdio, also serve the aggregate as a stdio ' +
      'MCP server on stdin/stdout (logs on stderr); stdin\'s end stops it.',
    options: ['config', 'listen', 'poll', 'stdio'],
  },
  validate: {
    operands: '',
    about: 'Check the config; print every problem as FILE:LINE:COL. Exit 0 when valid, 1 when not.',
    options: ['config'],
  },
  status: {
    operands: '',
    about: 'Show every server of a running orchestrator as a table (or the raw JSON).',
    options: ['json', ...REMOTE],
  },
  start: { operands: 'NAME', about: 'Start a server that a manual stop holds, or one at rest (stopped or failed).', options: ['json', ...REMOTE] },
  stop: {
    operands: 'NAME',
    about: "Stop a server gracefully; it stays stopped until a start or a change of the server's spec.",
    options: ['json', ...REMOTE],
  },
  restart: { operands: 'NAME', about: 'Stop a server gracefully and start a new process.', options: ['json', ...REMOTE] },
  logs: {
    operands: 'NAME',
    about: "The server's recent output (the last 100 lines by default), then with -f its new lines live.",
    options: ['follow', 'tail', ...REMOTE],
  },
  events: { operands: '', about: 'Recent state transitions, config loads and manual actions; with -f, live.', options: ['follow', ...REMOTE] },
  reload: { operands: '', about: 'Re-read the config file now. Exits 1, saying why, when the file is rejected.', options: [...REMOTE] },
  connect: {
    operands: '',
    about:
      "Bridge stdin/stdout to a running orchestrator's MCP endpoint (all servers, or one with --server): " +
      'for "docker exec -i CONTAINER mcp-orchestrator connect" in a stdio client\'s config.',
    options: ['server', ...REMOTE],
  },
  help: { operands: '[COMMAND]', about: "This help, or one command's.", options: [] },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];

const isCommand = (word: string): word is CommandName => Object.hasOwn(COMMANDS, word);

export type ParsedValues = { -readonly [K in OptionName]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean };

/** What the command line asks for: a help text or version to print, or a command to run. */
type NamedCommand = 'start' | 'stop' | 'restart' | 'logs';

export type Invocation =
  | { kind: 'print'; text: string }
  | { kind: 'command'; command: NamedCommand; name: string; values: ParsedValues }
  | { kind: 'command'; command: Exclude<CommandName, 'help' | NamedCommand>; values: ParsedValues };

const isNamed = (command: CommandName): command is NamedCommand => COMMANDS[command].operands === 'NAME';

/** An option as a usage line shows it: its long form alone (`--follow`, `--config FILE`). */
const longForm = (spec: OptionSpec): string => spec.usage.replace(/^-\w, /, '');

/** `text` in lines of at most `width` characters, the first after `first`, the rest indented to line up under it. */
function wrap(text: string, first: string, width = 100): string {
  const indent = ' '.repeat(first.length);
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return first + lines.join(`\n${indent}`);
}

/** One command's usage line, as `--help` and the README show it. */
export function usageLine(name: CommandName): string {
  const command: CommandSpec = COMMANDS[name];
  const options = command.options.map((o) => `[${longForm(OPTIONS[o])}]`);
  const head = name === 'run' ? '[run]' : name;
  return ['mcp-orchestrator', head, command.operands, ...options].filter((part) => part !== '').join(' ');
}

function optionLines(names: readonly OptionName[]): string {
  const width = Math.max(...names.map((n) => OPTIONS[n].usage.length));
  return names.map((n) => wrap(OPTIONS[n].about, `  ${OPTIONS[n].usage.padEnd(width)}  `)).join('\n');
}

const VARIABLES = {
  MCP_CONFIG_FILE: 'the config, when --config is not given',
  MCP_ORCHESTRATOR_LISTEN: "the listener's address (over the config's listen)",
  MCP_ORCHESTRATOR_URL: 'a running orchestrator, when --url is not given',
  MCP_ORCHESTRATOR_TOKEN: 'the bearer token (required off loopback; the config\'s token comes first)',
  MCP_REPOS_DIR: 'where servers are cloned (over the config\'s repos_dir)',
  LOG_LEVEL: "trace, debug, info, warn, error or fatal (run: over the config's log_level; connect: its own, default warn)",
  CHOKIDAR_USEPOLLING: 'watch the config by polling (1) or not (0)',
} as const;

type Variable = keyof typeof VARIABLES;

/** What the commands that talk to a running orchestrator read to find it. */
const REMOTE_VARIABLES: readonly Variable[] = ['MCP_ORCHESTRATOR_URL', 'MCP_ORCHESTRATOR_TOKEN', 'MCP_ORCHESTRATOR_LISTEN', 'MCP_CONFIG_FILE', 'LOG_LEVEL'];

/** The variables each command reads; the general help lists them all. */
const VARIABLES_OF: Record<CommandName, readonly Variable[]> = {
  run: ['MCP_CONFIG_FILE', 'MCP_ORCHESTRATOR_LISTEN', 'MCP_ORCHESTRATOR_TOKEN', 'MCP_REPOS_DIR', 'LOG_LEVEL', 'CHOKIDAR_USEPOLLING'],
  // The environment's overrides are checked with the file.
  validate: ['MCP_CONFIG_FILE', 'MCP_ORCHESTRATOR_LISTEN', 'MCP_REPOS_DIR', 'LOG_LEVEL'],
  status: REMOTE_VARIABLES,
  start: REMOTE_VARIABLES,
  stop: REMOTE_VARIABLES,
  restart: REMOTE_VARIABLES,
  logs: REMOTE_VARIABLES,
  events: REMOTE_VARIABLES,
  reload: REMOTE_VARIABLES,
  connect: REMOTE_VARIABLES,
  help: [],
};

function environment(names: readonly Variable[]): string {
  if (names.length === 0) return '';
  const width = Math.max(...names.map((n) => n.length));
  return `\nEnvironment:\n${names.map((n) => wrap(VARIABLES[n], `  ${n.padEnd(width)}  `)).join('\n')}\n`;
}

/** `mcp-orchestrator --help`: every command, then every option. */
export function globalHelp(): string {
  const commands = COMMAND_NAMES
    .filter((name) => name !== 'help')
    .map((name) => `  ${usageLine(name)}\n${wrap(COMMANDS[name].about, '      ')}`);
  return `mcp-orchestrator ${VERSION}: runs the MCP servers of a TOML file and keeps them converged on it.

Usage:
${commands.join('\n')}
  mcp-orchestrator help [COMMAND] | COMMAND --help
      This help, or one command's.

Options:
${optionLines(Object.keys(OPTIONS) as OptionName[])}

${environment(Object.keys(VARIABLES) as Variable[]).trimStart()}`;
}

/** `mcp-orchestrator COMMAND --help`: its usage line, what it does, and only its options. */
export function commandHelp(name: CommandName): string {
  const command: CommandSpec = COMMANDS[name];
  const options = command.options.length > 0 ? `\nOptions:\n${optionLines(command.options)}\n` : '';
  return `Usage: ${usageLine(name)}\n\n${wrap(command.about, '  ')}\n${options}${environment(VARIABLES_OF[name])}`;
}

const seeHelp = (command: CommandName | undefined) => (command ? `see mcp-orchestrator ${command} --help` : 'see mcp-orchestrator --help');

/**
 * Read a command line (without node and the script). Throws UsageError, with what to type
 * instead, for an unknown command or option, an option the command does not take, a missing
 * option value or operand, or an operand too many.
 */
export function parseCommandLine(argv: readonly string[]): Invocation {
  const { values, positionals, tokens } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    // Checked below, so that every mistake gets a message naming the command and its help.
    strict: false,
    tokens: true,
    options: OPTIONS,
  });
  const [first, ...rest] = positionals;
  const command = first === undefined ? 'run' : isCommand(first) ? first : undefined;

  if (values.version === true) return { kind: 'print', text: `${VERSION}\n` };
  if (command === undefined) throw new UsageError(`unknown command "${first ?? ''}"; ${seeHelp(undefined)}`);
  // --help wins over other mistakes on the line (unless an option took it as its value): it is
  // how a user finds out what is right.
  if (values.help === true && command !== 'help') return { kind: 'print', text: first === undefined ? globalHelp() : commandHelp(command) };
  checkOptions(tokens, command, first === undefined || command === 'help');

  if (command === 'help') {
    const [topic, extra] = rest;
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}" after "help ${topic}"; ${seeHelp(undefined)}`);
    if (topic === undefined || topic === 'help') return { kind: 'print', text: globalHelp() };
    if (!isCommand(topic)) throw new UsageError(`unknown command "${topic}"; ${seeHelp(undefined)}`);
    return { kind: 'print', text: commandHelp(topic) };
  }

  const parsed = values as ParsedValues;
  if (parsed.tail !== undefined && !/^\d+$/.test(parsed.tail)) throw new UsageError(`--tail ${parsed.tail}: give a whole number of lines, e.g. --tail 50`);
  if (parsed.server !== undefined && !NAME_PATTERN.test(parsed.server)) throw new UsageError(`--server ${parsed.server}: not a server name`);
  const extra = rest[isNamed(command) ? 1 : 0];
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}" after "${command}"; ${seeHelp(command)}`);
  if (!isNamed(command)) return { kind: 'command', command, values: parsed };
  const name = rest[0];
  if (name === undefined) throw new UsageError(`${command} needs a server name: mcp-orchestrator ${command} NAME`);
  if (!NAME_PATTERN.test(name)) throw new UsageError(`"${name}" is not a server name`);
  return { kind: 'command', command, name, values: parsed };
}

/**
 * Every option on the line must exist, be one `command` takes, and have a value exactly when it
 * needs one. `general` points mistakes at the general help rather than the command's.
 */
function checkOptions(tokens: ReturnType<typeof parseArgs>['tokens'], command: CommandName, general: boolean): void {
  const allowed: readonly OptionName[] = COMMANDS[command].options;
  for (const token of tokens ?? []) {
    if (token.kind !== 'option') continue;
    const spec = Object.hasOwn(OPTIONS, token.name) ? (OPTIONS[token.name as OptionName] as OptionSpec) : undefined;
    const help = seeHelp(general ? undefined : command);
    if (!spec) throw new UsageError(`unknown option ${token.rawName}; ${help}`);
    if (!allowed.includes(token.name as OptionName) && token.name !== 'help' && token.name !== 'version') {
      throw new UsageError(`${command} does not take ${token.rawName}; ${seeHelp(command === 'help' ? undefined : command)}`);
    }
    // A value that looks like another option (`--url --json`) is a forgotten value, not a value.
    if (spec.type === 'string' && (token.value === undefined || token.value === '' || (!token.inlineValue && /^-[-A-Za-z]/.test(token.value)))) {
      throw new UsageError(`${token.rawName} needs a value: ${spec.usage}`);
    }
    if (spec.type === 'boolean' && token.inlineValue) throw new UsageError(`${token.rawName} takes no value; give ${longForm(spec)} alone`);
  }
}
