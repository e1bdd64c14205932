/**
 * What the gateway serves: the tools, prompts and resources of every ready server instance, under
 * public names, and where each one routes. Rebuilt lazily after a change; a change that leaves the
 * lists as they were (a replaced server with the same tools) notifies nobody.
 */
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import type { Prompt, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { ToolFilterSpec } from '../config/types.js';
import type { Logger } from '../log.js';
import { assignPublicNames, toolFilter } from './names.js';
import type { Upstream } from './upstream.js';

export type ListKind = 'tools' | 'prompts' | 'resources';

export interface Route {
  server: string;
  /** The name the server itself uses. */
  name: string;
}

export interface View {
  tools: Tool[];
  prompts: Prompt[];
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
  toolRoutes: Map<string, Route>;
  promptRoutes: Map<string, Route>;
  resourceRoutes: Map<string, string>;
  templateRoutes: { template: UriTemplate; uriTemplate: string; server: string }[];
}

/** How long list changes are gathered before clients are told (a restart detaches and attaches). */
const COALESCE_MS = 25;

type Warn = (key: string, fields: object, message: string) => void;

/** Each public list as a string that changes exactly when the list does. */
function listSignatures(view: Pick<View, 'tools' | 'prompts' | 'resources' | 'resourceTemplates'>): Record<ListKind, string> {
  return {
    tools: JSON.stringify(view.tools),
    prompts: JSON.stringify(view.prompts),
    resources: JSON.stringify([view.resources, view.resourceTemplates]),
  };
}

/** The aggregate's name among the views (a server's is `server NAME`). */
const AGGREGATE = '';

/**
 * Warnings about what the servers list (two names meeting, a URI listed twice) hold for as long as
 * the lists do, and views are rebuilt on every change anywhere: each is logged when it appears, not
 * on every rebuild, and again only after a build without it.
 */
class StandingWarnings {
  /** Per view (the aggregate, or one server's), the warnings its last build gave. */
  private readonly standing = new Map<string, Set<string>>();

  constructor(private readonly log: Logger) {}

  /** Run one build of `view`; a warning it gives is logged unless some view's last build gave it. */
  build<T>(view: string, run: (warn: Warn) => T): T {
    const given = new Set<string>();
    const result = run((key, fields, message) => {
      if (given.has(key)) return;
      given.add(key);
      if (![...this.standing.values()].some((keys) => keys.has(key))) this.log.warn(fields, message);
    });
    this.standing.set(view, given);
    return result;
  }

  /**
   * Forget what every view but `kept` last gave, for views that will be built anew only when asked
   * (one server's, after any change): a warning is then judged by the builds to come, not by a
   * view of lists that are gone.
   */
  forgetAllBut(kept: string): void {
    for (const view of this.standing.keys()) if (view !== kept) this.standing.delete(view);
  }
}

export class Registry {
  private readonly attached = new Map<string, Upstream[]>();
  private filters = new Map<string, (name: string) => boolean>();
  private separator = '_';
  private aggregateCache: View | undefined;
  private readonly scopedCache = new Map<string, View>();
  /** Public name → route, for every tool ever served: calls to a server that is down are explained, not "unknown". */
  private readonly knownTools = new Map<string, Route>();
  private readonly knownPrompts = new Map<string, Route>();
  private readonly listeners = new Set<(kinds: ListKind[]) => void>();
  /** What clients were last told the lists are: none, until the first server is ready. */
  private signatures = listSignatures({ tools: [], prompts: [], resources: [], resourceTemplates: [] });
  private timer: NodeJS.Timeout | undefined;
  private readonly warnings: StandingWarnings;

  constructor(private readonly log: Logger) {
    this.warnings = new StandingWarnings(log);
  }

  /** A ready instance joins; the newest instance of a server is the one calls go to. */
  attach(upstream: Upstream): void {
    const list = this.attached.get(upstream.server) ?? [];
    list.push(upstream);
    this.attached.set(upstream.server, list);
    this.changed();
  }

  /** An instance leaves (stopping, exited): calls go to the previous one if it is still there. */
  detach(instanceId: string): void {
    for (const [server, list] of this.attached) {
      const kept = list.filter((u) => u.instanceId !== instanceId);
      if (kept.length === list.length) continue;
      if (kept.length === 0) this.attached.delete(server);
      else this.attached.set(server, kept);
      this.changed();
    }
  }

  /** The instance serving `server` now, if any. */
  primary(server: string): Upstream | undefined {
    const list = this.attached.get(server);
    for (let i = (list?.length ?? 0) - 1; i >= 0; i--) {
      const upstream = list?.[i];
      if (upstream && !upstream.isClosed) return upstream;
    }
    return undefined;
  }

  /** The instances calls go to: every server's for the aggregate (`scope` undefined), else that one's. */
  serving(scope: string | undefined): Upstream[] {
    if (scope === undefined) return this.primaries();
    const upstream = this.primary(scope);
    return upstream ? [upstream] : [];
  }

  /** The instance serving each attached server, by server name: listings and broadcasts alike. */
  primaries(): Upstream[] {
    return [...this.attached.keys()]
      .sort()
      .map((s) => this.primary(s))
      .filter((u): u is Upstream => u !== undefined);
  }

  /** Apply the [gateway] separator and each server's tool filter; servers not named lose theirs. */
  configure(separator: string, filters: ReadonlyMap<string, ToolFilterSpec>): void {
    this.separator = separator;
    this.filters = new Map([...filters].map(([server, spec]) => [server, toolFilter(spec)]));
    this.changed();
  }

  /** An instance refetched its lists after a list_changed. */
  listsChanged(upstream: Upstream): void {
    if (this.primary(upstream.server) === upstream) this.changed();
  }

  /** Told with the kinds whose public lists really changed, at most once per coalescing window. */
  onListChanged(listener: (kinds: ListKind[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The server names a public name could begin with (`memory` for `memory_read_graph`), longest
   * first: for a name never served, because its server has never been ready.
   */
  prefixesOf(publicName: string): string[] {
    const prefixes: string[] = [];
    for (let at = publicName.lastIndexOf(this.separator); at > 0; at = publicName.lastIndexOf(this.separator, at - 1)) {
      prefixes.push(publicName.slice(0, at));
    }
    return prefixes;
  }

  /** Where a public tool name went, even if its server is down now. */
  knownTool(name: string): Route | undefined {
    return this.knownTools.get(name);
  }

  knownPrompt(name: string): Route | undefined {
    return this.knownPrompts.get(name);
  }

  /** The aggregate of every ready server, under public names. */
  aggregate(): View {
    this.aggregateCache ??= this.build();
    return this.aggregateCache;
  }

  /** One server's own view (for /servers/NAME/mcp): its names unchanged, its tool filter applied. */
  scoped(server: string): View {
    let view = this.scopedCache.get(server);
    if (!view) {
      view = this.buildScoped(server);
      this.scopedCache.set(server, view);
    }
    return view;
  }

  private changed(): void {
    this.aggregateCache = undefined;
    this.scopedCache.clear();
    this.warnings.forgetAllBut(AGGREGATE);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const next = listSignatures(this.aggregate());
      const kinds = (Object.keys(next) as ListKind[]).filter((k) => next[k] !== this.signatures[k]);
      this.signatures = next;
      if (kinds.length === 0) return;
      for (const listener of this.listeners) {
        try {
          listener(kinds);
        } catch (error) {
          this.log.error({ err: error }, 'list change listener failed');
        }
      }
    }, COALESCE_MS);
    this.timer.unref();
  }

  private allowed(server: string, tool: string): boolean {
    return this.filters.get(server)?.(tool) ?? true;
  }

  private build(): View {
    return this.warnings.build(AGGREGATE, (warn) => {
      const upstreams = this.primaries();
      const tools = this.publish('tool', upstreams.flatMap((u) => u.lists.tools.filter((t) => this.allowed(u.server, t.name)).map((item) => ({ server: u.server, item }))), this.knownTools, warn);
      const prompts = this.publish('prompt', upstreams.flatMap((u) => u.lists.prompts.map((item) => ({ server: u.server, item }))), this.knownPrompts, warn);
      return { tools: tools.items, prompts: prompts.items, toolRoutes: tools.routes, promptRoutes: prompts.routes, ...this.resourcesOf(upstreams, warn) };
    });
  }

  /**
   * Give each item its public name and its route, and remember the route in `known` so a call to
   * it can be explained after its server went down.
   */
  private publish<T extends { name: string }>(kind: string, entries: { server: string; item: T }[], known: Map<string, Route>, warn: Warn): { items: T[]; routes: Map<string, Route> } {
    const named = assignPublicNames(
      entries.map((e) => ({ server: e.server, name: e.item.name, item: e.item })),
      this.separator,
      (name, clashing) => {
        const servers = clashing.map((e) => `${e.server}/${e.name}`);
        warn(`${kind} ${name} ${servers.join(' ')}`, { name, kind, servers }, 'two names meet on one public name; the later ones get a hash suffix');
      },
    );
    const items: T[] = [];
    const routes = new Map<string, Route>();
    for (const [publicName, entry] of named) {
      const route = { server: entry.server, name: entry.name };
      items.push({ ...entry.item, name: publicName });
      routes.set(publicName, route);
      known.set(publicName, route);
    }
    return { items, routes };
  }

  private buildScoped(server: string): View {
    return this.warnings.build(`server ${server}`, (warn) => {
      const upstream = this.primary(server);
      if (!upstream) return { tools: [], prompts: [], toolRoutes: new Map(), promptRoutes: new Map(), ...this.resourcesOf([], warn) };
      const tools = upstream.lists.tools.filter((t) => this.allowed(server, t.name));
      return {
        tools,
        prompts: upstream.lists.prompts,
        toolRoutes: new Map(tools.map((t) => [t.name, { server, name: t.name }])),
        promptRoutes: new Map(upstream.lists.prompts.map((p) => [p.name, { server, name: p.name }])),
        ...this.resourcesOf([upstream], warn),
      };
    });
  }

  private resourcesOf(upstreams: Upstream[], warn: Warn): Pick<View, 'resources' | 'resourceTemplates' | 'resourceRoutes' | 'templateRoutes'> {
    const resources: Resource[] = [];
    const resourceRoutes = new Map<string, string>();
    const resourceTemplates: ResourceTemplate[] = [];
    const templateRoutes: View['templateRoutes'] = [];
    for (const upstream of upstreams) {
      for (const resource of upstream.lists.resources) {
        const owner = resourceRoutes.get(resource.uri);
        if (owner !== undefined) {
          const servers = [owner, upstream.server];
          warn(`uri ${resource.uri} ${servers.join(' ')}`, { uri: resource.uri, servers }, 'two servers list one resource URI; the first (by name) serves it');
          continue;
        }
        resourceRoutes.set(resource.uri, upstream.server);
        resources.push(resource);
      }
      for (const template of upstream.lists.resourceTemplates) {
        resourceTemplates.push(template);
        try {
          templateRoutes.push({ template: new UriTemplate(template.uriTemplate), uriTemplate: template.uriTemplate, server: upstream.server });
        } catch (error) {
          warn(
            `template ${upstream.server} ${template.uriTemplate}`,
            { server: upstream.server, uriTemplate: template.uriTemplate, err: error },
            'resource template does not parse; not routable',
          );
        }
      }
    }
    return { resources, resourceTemplates, resourceRoutes, templateRoutes };
  }

  /** The server owning a resource URI: a listed resource first, then the first template that matches. */
  resourceOwner(view: View, uri: string): string | undefined {
    const listed = view.resourceRoutes.get(uri);
    if (listed !== undefined) return listed;
    for (const route of view.templateRoutes) {
      try {
        if (route.template.match(uri)) return route.server;
      } catch {
        // A template the SDK cannot match against is skipped.
      }
    }
    return undefined;
  }

  close(): void {
    clearTimeout(this.timer);
    this.listeners.clear();
  }
}
