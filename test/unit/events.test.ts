import { describe, expect, it } from 'vitest';
import { EventLog } from '../../src/control/events.js';

const action = (server: string) => ({ type: 'action' as const, server, action: 'restart' as const, at: '2026-01-01T00:00:00.000Z' });

describe('EventLog', () => {
  it('numbers events and replays what came after an id', () => {
    const log = new EventLog();
    for (const name of ['a', 'b', 'c']) log.append(action(name));
    expect(log.since(1).map((e) => e.id)).toEqual([2, 3]);
    expect(log.since(3)).toEqual([]);
  });

  it('keeps only the last `capacity` events, and replays all kept for an id older than them', () => {
    const log = new EventLog(2);
    for (const name of ['a', 'b', 'c', 'd']) log.append(action(name));
    expect(log.since(0).map((e) => e.id)).toEqual([3, 4]);
  });

  it('replays everything kept for an id from an earlier process (newer than any issued)', () => {
    const log = new EventLog();
    for (const name of ['a', 'b']) log.append(action(name));
    expect(log.since(500).map((e) => e.id)).toEqual([1, 2]);
  });
});
