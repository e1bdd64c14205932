import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Git with a fixed identity and no user or system config, so fixtures build the same anywhere. */
function git(cwd: string, args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 'fixture',
      GIT_AUTHOR_EMAIL: 'fixture@example.invalid',
      GIT_COMMITTER_NAME: 'fixture',
      GIT_COMMITTER_EMAIL: 'fixture@example.invalid',
    },
  }).trim();
}

export interface BareRepo {
  /** `file://` URL of the bare repository. */
  url: string;
  /** Commit sha of each tag, and of `main` (the last commit). */
  commits: Record<string, string>;
}

/**
 * Build `<root>/<name>.git`, a bare repository whose `main` has one commit per entry of `tags`
 * (each writing `version.txt` and tagged with that name; annotated when `annotated`), plus one
 * untagged commit on top.
 */
export function makeBareRepo(root: string, name: string, tags: string[], annotated = false): BareRepo {
  const revisions = [...tags, 'main'].map((tag) => ({ tag, files: { 'version.txt': `${name} ${tag}\n` } }));
  return makeRepoFromRevisions(root, name, revisions, { annotated });
}

/** `git rev-parse HEAD` in `dir`. */
export function headOf(dir: string): string {
  return git(dir, ['rev-parse', 'HEAD']);
}

/**
 * Build `<root>/<name>.git` from revisions: each writes its files on top of the previous ones,
 * commits, and is tagged (annotated tags when asked; a revision called "main" is only committed).
 * Returns the URL and each tag's commit.
 */
export function makeRepoFromRevisions(
  root: string,
  name: string,
  revisions: { tag: string; files: Record<string, string> }[],
  options: { annotated?: boolean } = {},
): BareRepo {
  const work = join(root, `${name}-work`);
  mkdirSync(work, { recursive: true });
  git(work, ['init', '--quiet', '--initial-branch', 'main']);
  const commits: Record<string, string> = {};
  for (const { tag, files } of revisions) {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(work, path, '..'), { recursive: true });
      writeFileSync(join(work, path), content);
    }
    git(work, ['add', '-A']);
    git(work, ['commit', '--quiet', '-m', tag]);
    commits[tag] = git(work, ['rev-parse', 'HEAD']);
    // "main" names the branch's last commit, not a tag.
    if (tag !== 'main') git(work, options.annotated ? ['tag', '-a', tag, '-m', tag] : ['tag', tag]);
  }
  const bare = join(root, `${name}.git`);
  git(root, ['clone', '--quiet', '--bare', work, bare]);
  return { url: pathToFileURL(bare).href, commits };
}
