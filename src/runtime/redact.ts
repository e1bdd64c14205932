/** What stands in for a hidden value, in the API, in messages and in the logs. */
export const REDACTED = '[redacted]';

/** `text` with every occurrence of each secret replaced by {@link REDACTED}. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  // An empty one would put the marker between every two characters.
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join(REDACTED);
  return out;
}

/** Credentials inside URLs (`https://user:token@host`, `https://token@host`), anywhere in a text. */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi;

/** Replace the user-info part of every URL in `text` with `***`, so it can be logged or shown. */
export function redactUrl(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1***@');
}
