const NAME_CHARACTERS = '[A-Za-z0-9][A-Za-z0-9_-]{0,31}';

/** What a server name must look like: it names a folder, a log binding, a tool prefix and a URL path. */
export const NAME_PATTERN = new RegExp(`^${NAME_CHARACTERS}$`);

/** A server name as one captured (`name`) URL path segment, for route patterns. */
export const NAME_SEGMENT = `(?<name>${NAME_CHARACTERS})`;

const NAME_RULE = 'use 1-32 letters, digits, "_" or "-", starting with a letter or digit';

/**
 * Why an explicit `name` is not allowed, or undefined when it is. Names that could leave the clone
 * folder or a URL path segment ("../etc", "a/b") are called out as such.
 */
export function nameProblem(name: string): string | undefined {
  if (NAME_PATTERN.test(name)) return undefined;
  const shown = JSON.stringify(name);
  const example = sanitiseName(name);
  const instead = example === '' ? '' : `, e.g. name = ${JSON.stringify(example)}`;
  if (/[/\\]|\.\./.test(name) || name === '.') {
    return `name ${shown} would escape the repos folder and the API path; ${NAME_RULE}${instead}`;
  }
  if (name === '') return `name is empty; ${NAME_RULE}`;
  if (name.length > 32) return `name ${shown} is ${name.length} characters long; ${NAME_RULE}${instead}`;
  return `name ${shown} is not allowed; ${NAME_RULE}${instead}`;
}

/**
 * Deterministically turn any text into a valid name, or "" when nothing is left: invalid characters
 * become "-", leading characters other than letters and digits are dropped, then it is cut to 32.
 */
function sanitiseName(text: string): string {
  return text
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 32);
}

/**
 * The default name of a server: the repo's last path segment without `.git`, sanitised.
 * Handles URLs (`https://host/org/x.git`, `file:///tmp/a/b.git`), scp-like `git@host:org/x.git`,
 * trailing slashes, query strings and fragments. Returns "" when nothing usable is left.
 */
export function deriveName(repo: string): string {
  const withoutQuery = repo.trim().replace(/[?#].*$/, '');
  const trimmed = withoutQuery.replace(/[/\\]+$/, '');
  const last = trimmed.split(/[/\\:]/).pop() ?? '';
  return sanitiseName(last.replace(/\.git$/i, ''));
}
