/**
 * Newline-delimited JSON-RPC written to a byte stream: every message of a tick in one write, a
 * large answer as the bytes it was read as. Lines are read with the runtime's LineReader.
 */
import type { Writable } from 'node:stream';

/** Below this size an answer's bytes are decoded and joined with the tick's other messages. */
const SMALL_BYTES = 16 * 1024;

/**
 * Messages written to a stream in one tick (every line of a chunk just read) leave together when
 * the tick ends: under load the peer reads several per wake-up and both processes make fewer
 * system calls, and a lone message waits only for the end of the tick.
 */
export class LineWriter {
  private pending: (string | Buffer)[] = [];
  private onlyText = true;

  constructor(private readonly stream: Writable) {}

  /** Queue one message's JSON text; false once the stream has ended. */
  write(json: string): boolean {
    if (this.stream.writableEnded || this.stream.destroyed) return false;
    if (this.pending.push(`${json}\n`) === 1) process.nextTick(this.flush);
    return true;
  }

  /**
   * Queue one message given as pieces of its JSON text, bytes left undecoded (a large answer is
   * written as it was read); false once the stream has ended.
   */
  writePieces(pieces: readonly (string | Buffer)[], bytes: number): boolean {
    if (bytes < SMALL_BYTES) {
      let json = '';
      for (const piece of pieces) json += typeof piece === 'string' ? piece : piece.toString('utf8');
      return this.write(json);
    }
    if (this.stream.writableEnded || this.stream.destroyed) return false;
    if (this.pending.length === 0) process.nextTick(this.flush);
    this.pending.push(...pieces, '\n');
    this.onlyText = false;
    return true;
  }

  /** Bytes the stream holds that its reader has not taken yet. */
  get unread(): number {
    return this.stream.writableLength;
  }

  private readonly flush = () => {
    const pending = this.pending;
    const onlyText = this.onlyText;
    this.pending = [];
    this.onlyText = true;
    if (this.stream.writableEnded || this.stream.destroyed) return;
    if (onlyText) {
      this.stream.write(pending.length === 1 ? (pending[0] as string) : pending.join(''));
      return;
    }
    this.stream.cork();
    for (const piece of pending) this.stream.write(piece);
    this.stream.uncork();
  };
}
