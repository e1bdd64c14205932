import type { Upstream } from '../../src/gateway/upstream.js';

/**
 * A ready upstream as the registry reads one: who it is and what it lists. Only for the registry
 * and the gateway's routing; it forwards nothing.
 */
export function listingUpstream(server: string, lists: { tools?: string[]; resources?: string[]; templates?: string[] } = {}): Upstream {
  return {
    server,
    instanceId: `${server}-1`,
    isClosed: false,
    lists: {
      tools: (lists.tools ?? []).map((name) => ({ name, inputSchema: { type: 'object' } })),
      prompts: [],
      resources: (lists.resources ?? []).map((uri) => ({ uri, name: uri })),
      resourceTemplates: (lists.templates ?? []).map((uriTemplate) => ({ uriTemplate, name: uriTemplate })),
    },
  } as unknown as Upstream;
}
