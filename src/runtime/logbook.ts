import { RingBuffer, type LogLine } from './ringbuffer.js';

/** Lines kept per server: enough for a crash's context, bounded so a chatty server cannot grow memory. */
export const DEFAULT_LINES_PER_SERVER = 1_000;

type Listener = (line: LogLine) => void;

/**
 * The recent output of every server by name, and a feed of new lines for followers. It outlives a
 * server's instances, so a crashed or replaced server's last lines can still be read.
 */
export class LogBook {
  private readonly buffers = new Map<string, RingBuffer>();
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(private readonly capacity = DEFAULT_LINES_PER_SERVER) {}

  for(name: string): RingBuffer {
    let buffer = this.buffers.get(name);
    if (!buffer) {
      buffer = new RingBuffer(this.capacity);
      this.buffers.set(name, buffer);
    }
    return buffer;
  }

  push(name: string, stream: LogLine['stream'], line: string): void {
    const entry = this.for(name).push(stream, line);
    for (const listener of this.listeners.get(name) ?? []) listener(entry);
  }

  /** New lines of one server as they come; returns the unsubscribe. */
  follow(name: string, listener: Listener): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }
}
