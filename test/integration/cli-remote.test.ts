/**
 * The CLI's messages when a running orchestrator cannot be used: a real HTTP server on loopback
 * that answers 401, and a port nothing listens on.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { getJson, RemoteError, type Remote } from '../../src/cli/remote.js';
import { freePort } from '../helpers/net.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function refusing(): Promise<string> {
  server = createServer((_req, res) => res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"missing or wrong bearer token"}}'));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const failure = async (remote: Remote): Promise<string> => {
  try {
    await getJson(remote, '/api/servers');
  } catch (error) {
    if (error instanceof RemoteError) return error.message;
    throw error;
  }
  throw new Error('the request succeeded');
};

describe('CLI remote errors', () => {
  it('a 401 says whether a token was sent, and which', async () => {
    const base = await refusing();
    expect(await failure({ base, token: undefined })).toBe(
      `401: the orchestrator at ${base} wants a bearer token; set MCP_ORCHESTRATOR_TOKEN to its token (an orchestrator with none configured logs the one it generated)`,
    );
    expect(await failure({ base, token: 'x', tokenFrom: '$MCP_ORCHESTRATOR_TOKEN' })).toBe(
      `401: the orchestrator at ${base} refused the token from $MCP_ORCHESTRATOR_TOKEN; check it against the orchestrator's [orchestrator] token or MCP_ORCHESTRATOR_TOKEN`,
    );
    expect(await failure({ base, token: 'x', tokenFrom: 'the config' })).toBe(
      `401: the orchestrator at ${base} refused the config's token; the orchestrator there runs with another one: give --url with MCP_ORCHESTRATOR_TOKEN set to it`,
    );
  });

  it('an address nobody answers on says where it came from', async () => {
    const base = `http://127.0.0.1:${await freePort()}`;
    expect(await failure({ base, token: undefined, via: 'from the config /x/mcp_config.toml' })).toBe(
      `cannot reach the orchestrator at ${base} (from the config /x/mcp_config.toml): is it running? (start it with "mcp-orchestrator run", or point --url / MCP_ORCHESTRATOR_URL at it)`,
    );
  });
});
