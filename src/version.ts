import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (two folders above dist/src or src). */
export const VERSION: string = (() => {
  for (const relative of ['../../package.json', '../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // Try the next layout.
    }
  }
  return '0.0.0';
})();
