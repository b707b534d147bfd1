/**
 * The feature flag that lets the app migrate one provider at a time: each chat goes to
 * the sidecar or to the app's legacy TypeScript path, by the provider of its model and
 * `settings.providerRoutes`. The routes live in the sidecar's settings, so every window
 * follows a switch at once (`settings.updated`), and the choice survives restarts.
 *
 * A model is named by its id or by one of its `aliases` (models.list: the old app's ids such
 * as `gpt-4-1`, dated snapshots), resolved as the sidecar does. A model id that names no
 * model (`dall-e-3`, `whisper-1`, the old app's `claude-cli-…`, a typo) is never routed by
 * guesswork: `resolve`, `send`, `regenerate` and `edit` reject with `UnknownModelError`.
 */
import type {
  ChatEditParams,
  ChatRegenerateParams,
  ChatRegenerateResult,
  ChatSendParams,
  ChatSendResult,
  Model,
  ParamsOf,
  ResultOf,
  SidecarEvent,
  Settings,
} from "./generated/protocol.js";
import { readable, syncedStore, type ClientLike, type LoadStatus, type Readable } from "./svelte.js";

export type Route = "sidecar" | "frontend";

/** A chat to route: exactly `chat.send`'s params. */
export type RoutedSend = ChatSendParams;
/** A regenerate to route: `chat.regenerate`'s params and the conversation of the message. */
export type RoutedRegenerate = ChatRegenerateParams & { conversationId: string };
/** An edit to route: `chat.edit`'s params and the conversation of the message. */
export type RoutedEdit = ChatEditParams & { conversationId: string };
/** What decides a route: the conversation, and a model when the call names one. */
export type RouteQuery = { conversationId: string; modelId?: string | null };

/** Where a chat went and why. */
export interface RouteInfo {
  route: Route;
  /**
   * The model the chat uses (request, conversation, default, last used: the sidecar's order),
   * as it was named there (an id or an alias); null if none.
   */
  modelId: string | null;
  /** That model's provider; null only when there is no model at all (it takes the default route). */
  providerId: string | null;
}

/**
 * A chat names a model the sidecar does not know: no id or alias in models.list matches it.
 * Nothing was sent anywhere. `modelId` is the name as given; an app that runs such models
 * itself (the old app's local `claude-cli-…`) catches this and calls its own path.
 */
export class UnknownModelError extends Error {
  override name = "UnknownModelError";
  /** Like an RpcError's: the sidecar answers chat.send for such an id with NOT_FOUND too. */
  readonly reason = "NOT_FOUND";
  readonly modelId: string;

  constructor(modelId: string) {
    super(
      `model ${modelId} is unknown to the sidecar: no model in models.list has that id or alias ` +
        "(an image, speech or local CLI model is not a chat model), so it has no route; nothing was sent",
    );
    this.modelId = modelId;
  }
}

/**
 * The app's old TypeScript chat path, injected by the app. Without `regenerate` or `edit`,
 * those go to the sidecar whatever the route (its own adapter answers).
 */
export interface LegacyChat {
  send(request: RoutedSend, info: RouteInfo): Promise<unknown>;
  regenerate?(request: RoutedRegenerate, info: RouteInfo): Promise<unknown>;
  edit?(request: RoutedEdit, info: RouteInfo): Promise<unknown>;
  cancel?(messageId: string): Promise<unknown>;
}

/** Where a call went, with the sidecar's answer or whatever the legacy path returned. */
export type Routed<R> = (RouteInfo & { route: "sidecar"; result: R }) | (RouteInfo & { route: "frontend"; result: unknown });
export type RoutedResult = Routed<ChatSendResult>;

export interface ProviderRouter {
  /** Settles once routes and models are loaded (rejects if that failed). */
  readonly ready: Promise<void>;
  /** providerId -> route, as set in the sidecar (providers not listed take the default). */
  readonly routes: Readable<Record<string, Route>>;
  routeFor(providerId: string): Route;
  /**
   * Which model, provider and route a chat would take. A model named by an alias takes its
   * model's route; one the sidecar does not know rejects with `UnknownModelError` (as do
   * `send`, `regenerate` and `edit`, before anything is sent).
   */
  resolve(request: RouteQuery): Promise<RouteInfo>;
  send(request: RoutedSend): Promise<RoutedResult>;
  /** `chat.regenerate` or `legacy.regenerate`, by the route of the conversation's model (or `modelId`). */
  regenerate(request: RoutedRegenerate): Promise<Routed<ChatRegenerateResult>>;
  /** `chat.edit` or `legacy.edit`, likewise. */
  edit(request: RoutedEdit): Promise<Routed<ChatSendResult>>;
  /** Cancels on the sidecar; a message it does not know (NOT_FOUND) goes to `legacy.cancel`. */
  cancel(messageId: string): Promise<unknown>;
  /** Stores the route in the sidecar's settings (null: back to the default). */
  setRoute(providerId: string, route: Route | null): Promise<void>;
  /** Reloads routes and models (after a failed first load, say); resyncs reload by themselves. */
  refresh(): Promise<void>;
  /** Stops following events. */
  close(): void;
}

export interface RouterOptions {
  client: ClientLike;
  legacy: LegacyChat;
  /** For providers without a route. Default "frontend": nothing moves until the app says so. */
  defaultRoute?: Route;
}

// -- the routing state, a pure reducer ----------------------------------------------------

export interface RouterState {
  seq: number;
  routes: Record<string, Route>;
  /** modelId -> providerId */
  modelProviders: Record<string, string>;
  /** alias -> the modelId it names */
  modelAliases: Record<string, string>;
  defaultModelId: string | null;
  lastModelId: string | null;
  /** conversationId -> its modelId, as seen in events (so resolving rarely needs a request). */
  conversationModels: Record<string, string | null>;
}

export function emptyRouterState(): RouterState {
  return {
    seq: -1,
    routes: {},
    modelProviders: {},
    modelAliases: {},
    defaultModelId: null,
    lastModelId: null,
    conversationModels: {},
  };
}

export function routerStateFrom(settings: Settings, models: Model[], seq: number): RouterState {
  return { ...emptyRouterState(), seq, ...fromSettings(settings), ...modelsOf(models) };
}

/** The id of the model `modelId` names (itself, or the model listing it as an alias); null if none. */
export function resolveModelId(state: Pick<RouterState, "modelProviders" | "modelAliases">, modelId: string): string | null {
  if (Object.hasOwn(state.modelProviders, modelId)) return modelId;
  return Object.hasOwn(state.modelAliases, modelId) ? state.modelAliases[modelId]! : null;
}

export function reduceRouter(state: RouterState, event: SidecarEvent): RouterState {
  if (event.seq <= state.seq) return state;
  switch (event.type) {
    case "settings.updated": {
      const next = fromSettings(event.settings);
      return {
        ...state,
        seq: event.seq,
        ...next,
        routes: sameRecord(next.routes, state.routes) ? state.routes : next.routes,
      };
    }
    case "models.updated":
      return { ...state, seq: event.seq, ...modelsOf(event.models) };
    case "conversation.created":
    case "conversation.updated":
      if (state.conversationModels[event.conversation.id] === event.conversation.modelId) return state;
      return {
        ...state,
        seq: event.seq,
        conversationModels: { ...state.conversationModels, [event.conversation.id]: event.conversation.modelId },
      };
    default:
      return state;
  }
}

function fromSettings(settings: Settings): Pick<RouterState, "routes" | "defaultModelId" | "lastModelId"> {
  const routes: Record<string, Route> = {};
  for (const [provider, route] of Object.entries(settings.providerRoutes)) if (route !== undefined) routes[provider] = route;
  return { routes, defaultModelId: settings.defaultModelId, lastModelId: settings.lastModelId };
}

/** The sidecar lists each alias once, never one that is an id: an id still wins here.
 * Only chat models route: a transcription model (`kind`, e.g. whisper-1) is no chat's. */
function modelsOf(listed: Model[]): Pick<RouterState, "modelProviders" | "modelAliases"> {
  const models = listed.filter((m) => (m.kind ?? "chat") === "chat");
  const modelProviders = Object.fromEntries(models.map((m) => [m.id, m.provider]));
  const modelAliases: Record<string, string> = {};
  for (const m of models) {
    for (const alias of m.aliases ?? []) {
      if (!Object.hasOwn(modelProviders, alias) && !Object.hasOwn(modelAliases, alias)) modelAliases[alias] = m.id;
    }
  }
  return { modelProviders, modelAliases };
}

function sameRecord(a: Record<string, Route>, b: Record<string, Route>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

// -- the router -----------------------------------------------------------------------------

export function createProviderRouter(options: RouterOptions): ProviderRouter {
  const { client, legacy } = options;
  const defaultRoute = options.defaultRoute ?? "frontend";
  const store = syncedStore({
    client,
    initial: emptyRouterState(),
    load: async (lastSeen) => {
      const [settings, models] = await Promise.all([
        client.request("settings.get", {}),
        client.request("models.list", {}),
      ]);
      return routerStateFrom(settings.settings, models.models, lastSeen());
    },
    reduce: reduceRouter,
    view: (state, status) => ({ state, status }),
  });
  let state = emptyRouterState();
  let status: LoadStatus = { loading: true, error: null };
  let settled = false;
  let settle: (() => void) | null = null;
  let fail: ((error: unknown) => void) | null = null;
  const ready = new Promise<void>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  ready.catch(() => {}); // unobserved until someone sends
  const stop = store.subscribe((value) => {
    state = value.state;
    status = value.status;
    if (status.loading) return;
    settled = true;
    if (status.error !== null) fail?.(status.error);
    else settle?.();
    settle = fail = null;
  });
  const routes = readable<Record<string, Route>>(state.routes, (set) =>
    store.subscribe((value) => set(value.state.routes)),
  );
  const routeFor = (providerId: string): Route => state.routes[providerId] ?? defaultRoute;

  /** Waits for the first load; a failed one answers with its error until `refresh()` mends it. */
  async function loaded(): Promise<void> {
    if (!settled) await ready.catch(() => undefined);
    if (status.error !== null) throw status.error;
  }

  async function resolve(request: RouteQuery): Promise<RouteInfo> {
    await loaded();
    let modelId = request.modelId ?? null;
    if (modelId === null) {
      let conversationModel = state.conversationModels[request.conversationId];
      if (conversationModel === undefined) {
        const { conversation } = await client.request("conversations.get", { conversationId: request.conversationId });
        conversationModel = conversation.modelId;
      }
      modelId = conversationModel ?? state.defaultModelId ?? state.lastModelId;
    }
    if (modelId === null) return { modelId, providerId: null, route: defaultRoute };
    const known = resolveModelId(state, modelId);
    if (known === null) throw new UnknownModelError(modelId);
    const providerId = state.modelProviders[known]!;
    return { modelId, providerId, route: routeFor(providerId) };
  }

  /** A regenerate or an edit: to the legacy path when routed there and it has a handler. */
  async function redo<M extends "chat.regenerate" | "chat.edit">(
    method: M,
    request: ParamsOf<M> & { conversationId: string },
    viaLegacy: ((info: RouteInfo) => Promise<unknown>) | undefined,
  ): Promise<Routed<ResultOf<M>>> {
    const info = await resolve(request);
    if (info.route === "frontend" && viaLegacy !== undefined) {
      return { ...info, route: "frontend", result: await viaLegacy(info) };
    }
    const { conversationId: _, ...params } = request; // the method's own params, exactly
    return { ...info, route: "sidecar", result: await client.request(method, params as unknown as ParamsOf<M>) };
  }

  return {
    ready,
    routes,
    routeFor,
    resolve,
    refresh: store.refresh,
    async send(request) {
      const info = await resolve(request);
      if (info.route === "sidecar") return { ...info, route: "sidecar", result: await client.request("chat.send", request) };
      return { ...info, route: "frontend", result: await legacy.send(request, info) };
    },
    regenerate(request) {
      const handler = legacy.regenerate;
      return redo("chat.regenerate", request, handler && ((info) => handler.call(legacy, request, info)));
    },
    edit(request) {
      const handler = legacy.edit;
      return redo("chat.edit", request, handler && ((info) => handler.call(legacy, request, info)));
    },
    async cancel(messageId) {
      try {
        return await client.request("chat.cancel", { messageId });
      } catch (error) {
        if (legacy.cancel === undefined || reasonOf(error) !== "NOT_FOUND") throw error;
        return legacy.cancel(messageId);
      }
    },
    async setRoute(providerId, route) {
      await client.request("settings.update", { providerRoutes: { [providerId]: route } });
      // settings.updated arrives before the answer, so `routes` already shows it.
    },
    close: stop,
  };
}

/** The JSON-RPC error's `data.reason` (an RpcError's `reason`), if any. */
function reasonOf(error: unknown): unknown {
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as { reason?: unknown; data?: { reason?: unknown } };
  return e.reason ?? e.data?.reason;
}
