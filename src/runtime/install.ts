import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ServerSpec } from '../config/types.js';
import type { Logger } from '../log.js';
import { runCommand, type LineListener } from './process.js';
import { redactUrl } from './redact.js';

export interface InstallOptions {
  spec: ServerSpec;
  /** Where manifests are detected and steps run (the server's working folder). */
  workdir: string;
  /** Holds the hash of the last successful install; written only after success. */
  markerFile: string;
  /** Checked-out commit, part of the hash so a new commit reinstalls. */
  commit?: string;
  /** The complete environment of every step (the server's own, so PIP_* and npm_config_* apply). */
  env: Record<string, string>;
  /** Aborting terminates the running step and rejects with `signal.reason`. */
  signal?: AbortSignal;
  log: Logger;
  onLine?: LineListener;
}

export interface InstallResult {
  /** True when nothing ran: nothing to install, or the marker matched and the output is there. */
  skipped: boolean;
  /** The steps, joined with `; ` (or why there are none), for status and logs. */
  description: string;
}

interface Step {
  /** What a person reads in logs and errors. */
  label: string;
  command: string | string[];
  /** Skip the step when this path (relative to workdir) exists: it only creates it. */
  creates?: string;
}

interface Plan {
  steps: Step[];
  /** Paths (relative to workdir) that a finished install leaves; gone means install again. */
  outputs: string[];
}

/** Files whose content decides what an install produces. */
const MANIFESTS = ['package.json', 'package-lock.json', 'npm-shrinkwrap.json', 'requirements.txt', 'pyproject.toml', 'setup.py', 'setup.cfg'];

/** The `bin` folder of the per-server Python venv, put first on the server's PATH. */
export function venvBinDir(workdir: string): string {
  return join(workdir, '.venv', 'bin');
}

/**
 * Install the server's dependencies in `workdir` as its `install` spec says, unless the marker
 * shows the same install already succeeded (same steps, manifests, lockfiles and commit) and its
 * output is still there. Steps run one after another in their own process groups; the first that
 * fails rejects with an Error naming the step, its exit and its first error lines (else its last
 * lines of output).
 */
export async function ensureInstalled(opts: InstallOptions): Promise<InstallResult> {
  const plan = await planInstall(opts.spec, opts.workdir, opts.env);
  const description = plan.steps.length > 0 ? plan.steps.map((s) => s.label).join('; ') : opts.spec.install.kind === 'none' ? 'install disabled' : 'nothing to install';
  if (plan.steps.length === 0) return { skipped: true, description };

  const hash = await installHash(description, opts.workdir, opts.commit);
  const log = opts.log;
  if ((await readMarker(opts.markerFile)) === hash && plan.outputs.every((p) => existsSync(join(opts.workdir, p)))) {
    log.debug({ install: description }, 'install up to date');
    return { skipped: true, description };
  }

  // A half-finished install must not be taken for the last good one on the next attempt.
  await rm(opts.markerFile, { force: true });
  for (const step of plan.steps) {
    opts.signal?.throwIfAborted();
    if (step.creates !== undefined && existsSync(join(opts.workdir, step.creates))) continue;
    log.info({ step: step.label }, 'install step started');
    const errors = new ErrorLines();
    const onLine: LineListener = (stream, line) => {
      errors.take(line);
      opts.onLine?.(stream, line);
    };
    const result = await runCommand({ command: step.command, cwd: opts.workdir, env: opts.env, signal: opts.signal, onLine });
    if (result.code !== 0) {
      const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
      log.warn({ step: step.label, code: result.code, signal: result.signal }, 'install step failed');
      const summary = errors.summary(result.output);
      const rest = `(more of its output: mcp-orchestrator logs ${opts.spec.name})`;
      throw new Error(redactUrl(`install step "${step.label}" ${how}${summary ? `:\n${summary}` : ''}\n${rest}`));
    }
    log.info({ step: step.label }, 'install step succeeded');
  }
  // An npm project without dependencies gets no node_modules; make one so the output check holds.
  if (plan.outputs.includes('node_modules')) await mkdir(join(opts.workdir, 'node_modules'), { recursive: true });
  // As the install left the files (npm install writes a lockfile), so the next start finds it current.
  await writeMarker(opts.markerFile, await installHash(description, opts.workdir, opts.commit));
  return { skipped: false, description };
}

/** Lines of a tool's output that report an error: npm's, pip's, and the usual spellings. */
const ERROR_LINE = /^(npm (error|ERR!)\s*\S|error\b|ERROR\b|E: |fatal\b)/i;
/** npm's first error line is a code (`npm error code E404`); the cause is on the next ones. */
const ERROR_CODE_LINE = /^npm (error|ERR!) code /;
const SUMMARY_LINES = 6;

/** Keeps the first error lines of a step's output as it streams, however long the output runs. */
class ErrorLines {
  readonly lines: string[] = [];

  take(line: string): void {
    const text = line.trim();
    if (this.lines.length < SUMMARY_LINES && ERROR_LINE.test(text) && !ERROR_CODE_LINE.test(text)) this.lines.push(text);
  }

  /** The step's first error lines, else the last lines of its output. */
  summary(output: string): string {
    if (this.lines.length > 0) return this.lines.join('\n');
    return output.split('\n').filter((line) => line.trim() !== '').slice(-SUMMARY_LINES).join('\n');
  }
}

/**
 * Whether `file` in `workdir` belongs to the checkout rather than to an earlier install (npm install
 * writes package-lock.json, and a checkout of another ref keeps it). Outside a git checkout every
 * file counts.
 */
async function fromCheckout(workdir: string, file: string, env: Record<string, string>): Promise<boolean> {
  // The server's environment, less anything that would point git at another repository.
  const gitEnv = Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('GIT_')));
  const result = await runCommand({ command: ['git', 'ls-files', '--error-unmatch', '--', file], cwd: workdir, env: { ...gitEnv, LC_ALL: 'C' } });
  // 1: a checkout that does not track it. 0: tracked; 128: not a checkout; 127: no git.
  return result.code !== 1;
}

/** The steps for `spec.install` in `workdir`, from which files exist (and, for a lockfile, whether the checkout has it). */
async function planInstall(spec: ServerSpec, workdir: string, env: Record<string, string>): Promise<Plan> {
  const install = spec.install;
  if (install.kind === 'none') return { steps: [], outputs: [] };
  if (install.kind === 'command') return { steps: [{ label: install.command, command: install.command }], outputs: [] };
  const has = (file: string): boolean => existsSync(join(workdir, file));
  const locked = async (file: string): Promise<boolean> => has(file) && (await fromCheckout(workdir, file, env));
  const steps: Step[] = [];
  const outputs: string[] = [];
  if (has('package.json')) {
    // npm ci for the checkout's own lockfile only: one left by an earlier npm install may not match
    // the package.json of the ref now checked out.
    const verb = (await locked('package-lock.json')) || (await locked('npm-shrinkwrap.json')) ? 'ci' : 'install';
    const args = ['npm', verb, '--no-audit', '--no-fund'];
    steps.push({ label: args.join(' '), command: args });
    outputs.push('node_modules');
  }
  const pythonTarget = has('requirements.txt') ? ['-r', 'requirements.txt'] : has('pyproject.toml') || has('setup.py') ? ['.'] : undefined;
  if (pythonTarget) {
    const python = join('.venv', 'bin', 'python');
    const pip = [python, '-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', ...pythonTarget];
    steps.push({ label: 'python3 -m venv .venv', command: ['python3', '-m', 'venv', '.venv'], creates: python });
    // Relative to the step's cwd (workdir) for the label; absolute to run, as the shell is not involved.
    steps.push({ label: pip.join(' '), command: [join(workdir, python), ...pip.slice(1)] });
    outputs.push(python);
  }
  return { steps, outputs };
}

async function installHash(description: string, workdir: string, commit: string | undefined): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`install\0${description}\0commit\0${commit ?? ''}\0`);
  for (const file of MANIFESTS) {
    const content = await readFile(join(workdir, file)).catch(() => undefined);
    // Length-prefixed, so no two different sets of files hash alike.
    hash.update(content === undefined ? `${file}\0absent\0` : `${file}\0${content.length}\0`);
    if (content !== undefined) hash.update(content);
  }
  return hash.digest('hex');
}

async function readMarker(file: string): Promise<string | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { hash?: unknown };
    return typeof parsed.hash === 'string' ? parsed.hash : undefined;
  } catch {
    return undefined;
  }
}

async function writeMarker(file: string, hash: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.tmp`;
  await writeFile(partial, `${JSON.stringify({ hash, installedAt: new Date().toISOString() })}\n`);
  await rename(partial, file);
}
