import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';
import { REDACTED } from './runtime/redact.js';

export type { Logger };

/** Paths whose values never reach a log line, wherever they appear. */
export const REDACT_PATHS = [
  'env',
  '*.env',
  'spec.env',
  'token',
  '*.token',
  'headers.authorization',
  'req.headers.authorization',
];

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Where lines go: stdout normally, stderr under `run --stdio` (stdout then carries MCP). */
  destination?: 'stdout' | 'stderr';
  /** Pretty-print for a person at a terminal; defaults to "the destination is a TTY". */
  pretty?: boolean;
}

/** The one root logger; everything else is a `child()` of it. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const fd = options.destination === 'stderr' ? 2 : 1;
  const tty = fd === 2 ? process.stderr.isTTY : process.stdout.isTTY;
  const base = { level: options.level ?? 'info', redact: { paths: REDACT_PATHS, censor: REDACTED } };
  const stream: DestinationStream =
    options.pretty ?? tty
      ? pretty({ destination: fd, sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' })
      : pino.destination({ fd, sync: false });
  return pino(base, stream);
}

/** A logger that drops everything, for tests and pure code paths. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
