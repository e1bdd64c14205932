import { RingBuffer } from './ringbuffer.js';

/** Lines kept per server: enough for a crash's context, bounded so a chatty server cannot grow memory. */
export const DEFAULT_LINES_PER_SERVER = 1_000;

/**
 * The recent output of every server by name. It outlives a server's instances, so a crashed or
 * replaced server's last lines can still be read.
 */
export class LogBook {
  private readonly buffers = new Map<string, RingBuffer>();

  constructor(private readonly capacity = DEFAULT_LINES_PER_SERVER) {}

  for(name: string): RingBuffer {
    let buffer = this.buffers.get(name);
    if (!buffer) {
      buffer = new RingBuffer(this.capacity);
      this.buffers.set(name, buffer);
    }
    return buffer;
  }

  /** Forget servers no longer configured. */
  retain(names: ReadonlySet<string>): void {
    for (const name of this.buffers.keys()) if (!names.has(name)) this.buffers.delete(name);
  }
}
