/**
 * The event stream behind `GET /api/events`: every state transition, config load or rejection,
 * manual action and process exit, numbered so a client that reconnects resumes where it left off.
 */
import type { ControllerEvent } from '../reconcile/controller.js';
import { NumberedRing } from '../runtime/ringbuffer.js';

export interface StoredEvent {
  /** Increases by one per event, from 1, for the life of the process. */
  id: number;
  event: ControllerEvent;
}

export class EventLog {
  private readonly events: NumberedRing<StoredEvent>;
  private readonly listeners = new Set<(stored: StoredEvent) => void>();

  /** The last `capacity` events are kept for clients that reconnect. */
  constructor(capacity = 1_000) {
    this.events = new NumberedRing(capacity);
  }

  append(event: ControllerEvent): StoredEvent {
    const stored = this.events.add((id) => ({ id, event }));
    for (const listener of this.listeners) listener(stored);
    return stored;
  }

  /**
   * Events after `id` that are still kept (all kept ones when `id` is older than the oldest, or
   * newer than any issued: ids restart with the orchestrator process).
   */
  since(id: number): StoredEvent[] {
    return this.events.since(id);
  }

  subscribe(listener: (stored: StoredEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
