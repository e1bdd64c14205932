import { StringDecoder } from 'node:string_decoder';

/** Longest line passed on; the rest of a longer line is dropped, so one runaway line cannot eat memory. */
export const MAX_LINE_CHARS = 16 * 1024;

/** Incremental splitter of a byte stream into text lines (`\n` or `\r\n`, UTF-8). */
export interface LineSplitter {
  push(chunk: Buffer | string): void;
  /** Emit a final line that had no newline. */
  end(): void;
}

/** Calls `onLine` once per complete line, each at most `maxChars` long (truncated ones end in `…`). */
export function createLineSplitter(onLine: (line: string) => void, maxChars = MAX_LINE_CHARS): LineSplitter {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  // Set once a line has been cut, until its newline arrives: the rest of it is dropped.
  let discarding = false;

  const emit = (raw: string): void => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    onLine(line.length > maxChars ? `${line.slice(0, maxChars)}…` : line);
  };

  const take = (text: string): void => {
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const piece = text.slice(start, nl);
      if (!discarding) emit(pending + piece);
      pending = '';
      discarding = false;
      start = nl + 1;
    }
    if (discarding) return;
    pending += text.slice(start);
    if (pending.length > maxChars) {
      emit(pending);
      pending = '';
      discarding = true;
    }
  };

  return {
    push(chunk) {
      take(typeof chunk === 'string' ? chunk : decoder.write(chunk));
    },
    end() {
      take(decoder.end());
      if (!discarding && pending !== '') emit(pending);
      pending = '';
      discarding = false;
    },
  };
}
