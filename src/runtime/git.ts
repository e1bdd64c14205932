import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { simpleGit, type SimpleGitOptions } from 'simple-git';
import type { Logger } from '../log.js';
import { ProcessTree, withProcessMarker } from './processtree.js';
import { couldBeCommit, looksLikeSha } from './gitref.js';
import { redactUrl } from './redact.js';

export interface CheckoutOptions {
  /** Git URL, possibly with credentials (never logged or shown unredacted). */
  repo: string;
  /** Branch, tag or commit; absent means the default branch at clone time, not followed later. */
  ref?: string;
  /** The checkout folder; its parent is created if needed. */
  dir: string;
  /**
   * Whether the folder's record of its last checkout may stand for the ref now (default true).
   * False for a folder that has not been serving: a branch it recorded may have moved since, so
   * the ref is fetched again (a full commit id is trusted anyway).
   */
  trustRecord?: boolean;
  /**
   * A commit to check out instead of what `ref` names now, recorded as a checkout of `ref`: a
   * second checkout of the version another folder runs (a branch may have moved since).
   */
  pin?: string;
  /**
   * A local checkout that holds `pin` (the one serving it): the commit is fetched from there
   * first, so a pin needs no network and survives a branch force-pushed since.
   */
  pinSource?: string;
  signal?: AbortSignal;
  log: Logger;
}

export type CheckoutAction = 'cloned' | 'checked-out' | 'unchanged' | 'recloned';

export interface CheckoutResult {
  /** Absolute path of the checkout. */
  dir: string;
  /** Full sha of the checked-out commit. */
  commit: string;
  action: CheckoutAction;
}

/** Recorded inside `.git` after each checkout, so an unchanged ref needs no network. */
export const CHECKOUT_STATE_FILE = 'mcp-orchestrator.json';

interface CheckoutState {
  ref: string | null;
  commit: string;
}

/**
 * Make `dir` a checkout of `ref` from `repo`: clone it when absent, re-clone when its origin is
 * another repository, fetch and check out (detached, discarding local changes to tracked files)
 * when the ref changed, and nothing at all when the ref is the one checked out last time. Clones
 * are built in a hidden sibling folder and renamed into place, so a failed or aborted clone leaves
 * the previous state. Never prompts. Rejects with a readable, credential-free message, or with
 * `signal.reason` when aborted.
 */
export async function ensureCheckout(opts: CheckoutOptions): Promise<CheckoutResult> {
  for (const [field, value] of [['repo', opts.repo], ['ref', opts.ref]] as const) {
    // An argument starting with "-" would be read by git as an option.
    if (value !== undefined && (value === '' || value.startsWith('-'))) throw new Error(`invalid git ${field} ${JSON.stringify(redactUrl(value))}`);
  }
  if (opts.pin !== undefined && !looksLikeSha(opts.pin)) throw new Error(`invalid commit to pin ${JSON.stringify(opts.pin)}`);
  opts.signal?.throwIfAborted();
  const dir = resolve(opts.dir);
  const git = new Git(opts.repo, opts.signal);
  const ref = opts.ref ?? null;
  // What is fetched and checked out; the record names `ref` either way.
  const target = opts.pin ?? opts.ref;
  const log = opts.log;
  const where = { repo: redactUrl(opts.repo), ref, dir, ...(opts.pin ? { pin: opts.pin } : {}) };
  await mkdir(dirname(dir), { recursive: true });
  await removeLeftovers(dir);

  if (!existsSync(dir) || (await readdir(dir)).length === 0) {
    log.info(where, 'cloning repository');
    const commit = await cloneInPlace(git, dir, target, ref, false, opts.pinSource);
    log.info({ ...where, commit }, 'repository cloned');
    return { dir, commit, action: 'cloned' };
  }

  // Without its own .git, git would walk up and answer for an enclosing repository.
  const origin = existsSync(join(dir, '.git')) ? await git.tryRun(dir, ['config', '--get', 'remote.origin.url']) : undefined;
  if (origin?.trim() !== opts.repo) {
    log.info({ ...where, previous: origin === undefined ? null : redactUrl(origin.trim()) }, 'repository changed, re-cloning');
    const commit = await cloneInPlace(git, dir, target, ref, true, opts.pinSource);
    log.info({ ...where, commit }, 'repository re-cloned');
    return { dir, commit, action: 'recloned' };
  }

  const state = await readState(dir);
  const trusted = opts.trustRecord !== false || (ref !== null && looksLikeSha(ref));
  const current = opts.pin === undefined ? trusted : state?.commit === opts.pin;
  if (state !== undefined && state.ref === ref && current) {
    const commit = (await git.run(dir, ['rev-parse', 'HEAD'], 'rev-parse')).trim();
    log.debug({ ...where, commit }, 'checkout unchanged');
    return { dir, commit, action: 'unchanged' };
  }

  log.info({ ...where, previousRef: state?.ref ?? null }, 'checking out ref');
  const commit = await fetchAndCheckout(git, dir, target, opts.pinSource);
  await writeState(dir, { ref, commit });
  log.info({ ...where, commit }, 'ref checked out');
  return { dir, commit, action: 'checked-out' };
}

/**
 * Clone `ref` into a hidden sibling, then move it to `dir` (replacing what is there when
 * `replace`); the checkout is recorded as one of `record`.
 */
async function cloneInPlace(git: Git, dir: string, ref: string | undefined, record: string | null, replace: boolean, localSource?: string): Promise<string> {
  const staging = siblingPath(dir, 'clone');
  try {
    await cloneInto(git, staging, ref, localSource);
    const commit = (await git.run(staging, ['rev-parse', 'HEAD'], 'rev-parse')).trim();
    await writeState(staging, { ref: record, commit });
    git.signal?.throwIfAborted();
    if (!replace) {
      await rm(dir, { recursive: true, force: true });
      await rename(staging, dir);
      return commit;
    }
    const old = siblingPath(dir, 'old');
    await rename(dir, old);
    try {
      await rename(staging, dir);
    } catch (error) {
      await rename(old, dir);
      throw error;
    }
    await rm(old, { recursive: true, force: true });
    return commit;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function cloneInto(git: Git, target: string, ref: string | undefined, localSource?: string): Promise<void> {
  const parent = dirname(target);
  if (ref === undefined) {
    await git.run(parent, ['clone', '--depth', '1', '--', git.repo, target], 'clone');
    return;
  }
  if (!looksLikeSha(ref)) {
    try {
      await git.run(parent, ['clone', '--depth', '1', '--branch', ref, '--', git.repo, target], 'clone');
      return;
    } catch (error) {
      // Not a branch or tag name: perhaps an abbreviated commit, which only a full fetch can find.
      if (!(error instanceof GitFailure) || !/remote branch .* not found/i.test(error.detail) || !couldBeCommit(ref)) throw error;
      await rm(target, { recursive: true, force: true });
    }
  }
  await git.run(parent, ['init', '--quiet', target], 'init');
  await git.run(target, ['remote', 'add', 'origin', git.repo], 'remote add');
  await fetchAndCheckout(git, target, ref, localSource);
}

/**
 * Fetch `ref` shallowly (by name or full sha) and check it out detached; a full fetch if that
 * fails. A full sha is first looked for in `localSource`, a checkout on this machine.
 */
async function fetchAndCheckout(git: Git, dir: string, ref: string | undefined, localSource?: string): Promise<string> {
  // A failed fetch leaves the tree and its record as they were; a checkout forgets the record
  // first, so one cut short never leaves a tree that claims the ref it had.
  const checkout = async (target: string) => {
    await rm(join(dir, '.git', CHECKOUT_STATE_FILE), { force: true });
    await git.run(dir, ['checkout', '--quiet', '--force', '--detach', target], 'checkout');
  };
  if (localSource !== undefined && ref !== undefined && looksLikeSha(ref) && existsSync(join(localSource, '.git'))) {
    const local = await git.tryRun(dir, ['fetch', '--depth', '1', '--no-tags', localSource, ref]);
    if (local !== undefined) {
      await checkout('FETCH_HEAD');
      return (await git.run(dir, ['rev-parse', 'HEAD'], 'rev-parse')).trim();
    }
  }
  try {
    await git.run(dir, ['fetch', '--depth', '1', '--no-tags', 'origin', ref ?? 'HEAD'], 'fetch');
    await checkout('FETCH_HEAD');
  } catch (error) {
    const refMissing = error instanceof GitFailure && error.step === 'fetch' && /couldn't find remote ref|not our ref|unadvertised object|no such remote ref/i.test(error.detail);
    // Names are found by the shallow fetch; only a commit (abbreviated, or refused by id) needs all history.
    if (ref === undefined || !refMissing || !couldBeCommit(ref)) throw error;
    const shallow = existsSync(join(dir, '.git', 'shallow'));
    await git.run(dir, ['fetch', '--tags', ...(shallow ? ['--unshallow'] : []), 'origin', '+refs/heads/*:refs/remotes/origin/*'], 'fetch');
    const commit = await resolveLocal(git, dir, ref);
    await checkout(commit);
  }
  return (await git.run(dir, ['rev-parse', 'HEAD'], 'rev-parse')).trim();
}

async function resolveLocal(git: Git, dir: string, ref: string): Promise<string> {
  for (const candidate of [ref, `refs/remotes/origin/${ref}`, `refs/tags/${ref}`]) {
    const sha = await git.tryRun(dir, ['rev-parse', '--verify', '--quiet', `${candidate}^{commit}`]);
    if (sha?.trim()) return sha.trim();
  }
  throw new GitFailure('fetch', `no commit matches ${JSON.stringify(ref)}`, git.repo);
}

/** A git command that failed; `detail` is the useful line of its stderr, already redacted. */
class GitFailure extends Error {
  constructor(
    readonly step: string,
    readonly detail: string,
    repo: string,
  ) {
    super(redactUrl(`git ${step} of ${repo} failed: ${detail}`));
    this.name = 'GitFailure';
  }
}

/** Runs git for one checkout: never prompting, abortable, leaving no helper process behind. */
class Git {
  private readonly token = randomUUID();
  private readonly options: Partial<SimpleGitOptions>;
  private readonly env: Record<string, string>;

  constructor(
    readonly repo: string,
    readonly signal: AbortSignal | undefined,
  ) {
    const { env, allowEnvironment, unsafe } = gitEnvironment();
    this.env = withProcessMarker(env, this.token);
    this.options = { allowEnvironment, unsafe, ...(signal ? { abort: signal } : {}) };
  }

  async run(cwd: string, args: string[], step: string): Promise<string> {
    try {
      return await simpleGit({ ...this.options, baseDir: cwd }).env(this.env).raw(args);
    } catch (error) {
      if (this.signal?.aborted) {
        // simple-git kills only `git` itself; its transport helpers (git-remote-https) would linger.
        await this.killStrays();
        throw this.signal.reason;
      }
      throw new GitFailure(step, usefulLine(error instanceof Error ? error.message : String(error)), this.repo);
    }
  }

  /** Like `run`, but a failed command gives undefined (an abort still rejects). */
  async tryRun(cwd: string, args: string[]): Promise<string | undefined> {
    try {
      return await this.run(cwd, args, args[0] ?? 'git');
    } catch (error) {
      if (error instanceof GitFailure) return undefined;
      throw error;
    }
  }

  private async killStrays(): Promise<void> {
    const strays = new ProcessTree(0, this.token);
    for (let round = 0; round < 20 && strays.sweep('SIGKILL') > 0; round++) await sleep(25);
  }
}

/**
 * Keys of the environment that simple-git guards, with the option that lets each through. It
 * strips guarded keys inherited from the environment and rejects guarded keys given explicitly,
 * so the operator's own settings (a CA bundle, an ssh command) are passed on by name here.
 */
const GUARDED_KEYS: Record<string, keyof NonNullable<SimpleGitOptions['unsafe']> | 'drop'> = {
  editor: 'drop',
  visual: 'drop',
  pager: 'drop',
  git_editor: 'drop',
  git_pager: 'drop',
  git_sequence_editor: 'drop',
  prefix: 'drop',
  git_askpass: 'allowUnsafeAskPass',
  ssh_askpass: 'allowUnsafeAskPass',
  git_config: 'allowUnsafeConfigPaths',
  git_config_global: 'allowUnsafeConfigPaths',
  git_config_system: 'allowUnsafeConfigPaths',
  git_config_count: 'allowUnsafeConfigEnvCount',
  git_config_parameters: 'allowUnsafeConfigEnvCount',
  git_exec_path: 'allowUnsafeExec',
  git_external_diff: 'allowUnsafeDiffExternal',
  git_proxy_command: 'allowUnsafeGitProxy',
  git_template_dir: 'allowUnsafeTemplateDir',
  git_ssh: 'allowUnsafeSshCommand',
  git_ssh_command: 'allowUnsafeSshCommand',
};

function gitEnvironment(): { env: Record<string, string>; allowEnvironment: string[]; unsafe: NonNullable<SimpleGitOptions['unsafe']> } {
  const env: Record<string, string> = {};
  const allowEnvironment: string[] = [];
  const unsafe: NonNullable<SimpleGitOptions['unsafe']> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    const lower = key.toLowerCase();
    const guard = GUARDED_KEYS[lower];
    // Interactive-only settings: meaningless for clone and fetch.
    if (guard === 'drop') continue;
    if (guard !== undefined) unsafe[guard] = true;
    if (guard !== undefined || lower.startsWith('git_')) allowEnvironment.push(key);
    env[key] = value;
  }
  // Nothing may wait for a person: no credential prompt, no ssh password or host-key question.
  env.GIT_TERMINAL_PROMPT = '0';
  env.GCM_INTERACTIVE = 'never';
  allowEnvironment.push('GIT_TERMINAL_PROMPT');
  if (env.GIT_SSH_COMMAND === undefined && env.GIT_SSH === undefined) {
    env.GIT_SSH_COMMAND = 'ssh -o BatchMode=yes';
    allowEnvironment.push('GIT_SSH_COMMAND');
    unsafe.allowUnsafeSshCommand = true;
  }
  // Messages in English, which the fallbacks above recognise.
  env.LC_ALL = 'C';
  return { env, allowEnvironment: [...new Set(allowEnvironment)], unsafe };
}

/** The line of git's stderr that says what went wrong, without its `fatal:` prefix. */
function usefulLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const fatal = lines.find((l) => /^(fatal|error):/i.test(l));
  const line = fatal?.replace(/^(fatal|error):\s*/i, '') ?? lines.at(-1) ?? 'unknown error';
  return redactUrl(line);
}

function siblingPath(dir: string, kind: 'clone' | 'old'): string {
  return join(dirname(dir), `.${basename(dir)}.${kind}-${randomBytes(4).toString('hex')}`);
}

/** Staging folders of a clone interrupted by a crash of the orchestrator. */
async function removeLeftovers(dir: string): Promise<void> {
  const prefixes = [`.${basename(dir)}.clone-`, `.${basename(dir)}.old-`];
  for (const name of await readdir(dirname(dir))) {
    if (prefixes.some((p) => name.startsWith(p))) await rm(join(dirname(dir), name), { recursive: true, force: true });
  }
}

async function readState(dir: string): Promise<CheckoutState | undefined> {
  try {
    return parseState(await readFile(join(dir, '.git', CHECKOUT_STATE_FILE), 'utf8'));
  } catch {
    return undefined;
  }
}

/** The ref `dir` was last checked out at (null: the default branch); undefined when unknown. Read synchronously. */
export function recordedRef(dir: string): string | null | undefined {
  try {
    return parseState(readFileSync(join(dir, '.git', CHECKOUT_STATE_FILE), 'utf8'))?.ref;
  } catch {
    return undefined;
  }
}

function parseState(text: string): CheckoutState | undefined {
  const parsed = JSON.parse(text) as Partial<CheckoutState>;
  if (typeof parsed.commit !== 'string' || (parsed.ref !== null && typeof parsed.ref !== 'string')) return undefined;
  return { ref: parsed.ref, commit: parsed.commit };
}

async function writeState(dir: string, state: CheckoutState): Promise<void> {
  await writeFile(join(dir, '.git', CHECKOUT_STATE_FILE), `${JSON.stringify(state)}\n`);
}
