import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/gateway/gateway.js';
import type { Message } from '../../src/gateway/jsonrpc.js';
import type { Session } from '../../src/gateway/session.js';
import { silentLogger } from '../../src/log.js';
import { listingUpstream } from '../helpers/upstream.js';

let gateway: Gateway | undefined;
afterEach(() => gateway?.close());

/** A session that has initialized with `roots`, answering every request it is sent with its own name as the only root. */
function rootsClient(g: Gateway, name: string, scope?: string): Session {
  const outlet = {
    send(message: Message): boolean {
      if ('method' in message && 'id' in message) {
        queueMicrotask(() => session.accept({ jsonrpc: '2.0', id: message.id, result: { roots: [{ uri: `file:///${name}` }] } }));
      }
      return true;
    },
  };
  const session = g.createSession(outlet, scope);
  session.request({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: { roots: {} }, clientInfo: { name, version: '1' } } }, () => {});
  return session;
}

describe("a server's own requests outside any call", () => {
  const ask = (g: Gateway, server: string) => g.handlers.onServerRequest(listingUpstream(server), 'roots/list', undefined, new AbortController().signal);

  it("go to a client of the aggregate or of that server, never to another server's endpoint", async () => {
    gateway = new Gateway({ log: silentLogger(), version: '0', describe: () => undefined });
    rootsClient(gateway, 'aggregate');
    rootsClient(gateway, 'scoped-to-m', 'm');
    // The newest session is scoped to another server: it must not be asked on m's behalf… nor on n's.
    rootsClient(gateway, 'scoped-to-other', 'other');
    expect(await ask(gateway, 'm')).toEqual({ roots: [{ uri: 'file:///scoped-to-m' }] });
    expect(await ask(gateway, 'n')).toEqual({ roots: [{ uri: 'file:///aggregate' }] });
  });

  it('fail clearly when only clients of other servers could answer', async () => {
    gateway = new Gateway({ log: silentLogger(), version: '0', describe: () => undefined });
    rootsClient(gateway, 'scoped-to-other', 'other');
    await expect(ask(gateway, 'm')).rejects.toThrow('no connected client of server "m" supports roots');
  });
});
