/** Credentials inside URLs (`https://user:token@host`, `https://token@host`), anywhere in a text. */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi;

/** Replace the user-info part of every URL in `text` with `***`, so it can be logged or shown. */
export function redactUrl(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1***@');
}
