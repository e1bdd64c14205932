/**
 * The event stream behind `GET /api/events`: every state transition, config load or rejection,
 * manual action and process exit, numbered so a client that reconnects resumes where it left off.
 */
import type { ControllerEvent } from '../reconcile/controller.js';

export interface StoredEvent {
  /** Increases by one per event, from 1, for the life of the process. */
  id: number;
  event: ControllerEvent;
}

export class EventLog {
  private readonly events: StoredEvent[] = [];
  private readonly listeners = new Set<(stored: StoredEvent) => void>();
  private lastId = 0;

  /** The last `capacity` events are kept for clients that reconnect. */
  constructor(private readonly capacity = 1_000) {}

  append(event: ControllerEvent): StoredEvent {
    const stored = { id: ++this.lastId, event };
    this.events.push(stored);
    if (this.events.length > this.capacity) this.events.splice(0, this.events.length - this.capacity);
    for (const listener of this.listeners) listener(stored);
    return stored;
  }

  /**
   * Events after `id` that are still kept (all kept ones when `id` is older than the oldest). An
   * `id` newer than any issued came from an earlier orchestrator process (ids restart with it):
   * that client gets everything kept.
   */
  since(id: number): StoredEvent[] {
    if (id > this.lastId) return [...this.events];
    const first = this.events.findIndex((e) => e.id > id);
    return first === -1 ? [] : this.events.slice(first);
  }

  subscribe(listener: (stored: StoredEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
