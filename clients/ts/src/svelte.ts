/**
 * Svelte stores over the sidecar, without importing Svelte.
 *
 * Each store follows the Svelte store contract (`subscribe(run)` calls `run` synchronously
 * with the current value and returns an unsubscribe function), which Svelte 4 and 5 both
 * accept for `$store`, `get` and `derived`. A store loads its snapshot when its first
 * subscriber arrives, folds events through the pure reducers of `./state/`, reloads when
 * the client resyncs, and lets go of the client when its last subscriber leaves.
 * Values are replaced, never mutated, and an event that changes nothing keeps the same
 * value, so nothing re-renders for other conversations' traffic.
 */
import type {
  MethodName,
  ParamsOf,
  ResultOf,
  SidecarEvent,
  UsageSummaryParams,
} from "./generated/protocol.js";
import {
  activePath,
  appendConversationPage,
  conversationFromSnapshot,
  conversationListFromSnapshot,
  emptyConversation,
  emptyConversationList,
  emptySettings,
  emptyUsage,
  isStreaming,
  pathIsComplete,
  reduceConversation,
  reduceConversationList,
  reduceSettings,
  reduceUsage,
  settingsFromSnapshot,
  toChatMessages,
  liveReply,
  usageFromSummary,
  type ChatMessage,
  type ChatMessagesOptions,
  type LiveReply,
  type ConversationListState,
  type ConversationState,
  type PathMessage,
  type SettingsState,
  type UsageState,
} from "./state/index.js";

/** The Svelte store contract (what `$store` needs). */
export interface Readable<T> {
  subscribe(run: (value: T) => void, invalidate?: () => void): () => void;
}

/**
 * What the stores use of a client: `SidecarClient` fits, and so does any object with
 * these members (a test double, another transport).
 */
export interface ClientLike<S extends string = string> {
  readonly state: S;
  request<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>>;
  onEvent(listener: (event: SidecarEvent) => void): () => void;
  onState(listener: (state: S) => void): () => void;
  onResync(listener: (reason: string) => void | Promise<void>): () => void;
}

/** Whether a store's snapshot is loading, and why the last load failed. */
export interface LoadStatus {
  /** True until the first snapshot arrived and while a reload runs. */
  loading: boolean;
  /** The last load's failure (e.g. an RpcError NOT_FOUND); null after a good load. */
  error: unknown;
}

export interface Refreshable {
  /** Reloads the snapshot (events keep applying meanwhile); resolves when it is in. */
  refresh(): Promise<void>;
}

// -- a minimal store ---------------------------------------------------------------------

/**
 * A writable value with Svelte's start/stop semantics: `start` runs at the first
 * subscriber, its returned `stop` after the last one leaves. `set` with the same value
 * (`Object.is`) notifies nobody.
 */
export function readable<T>(initial: T, start?: (set: (value: T) => void, get: () => T) => () => void): Readable<T> & { get(): T } {
  let value = initial;
  const runs = new Set<{ run: (value: T) => void; invalidate: (() => void) | undefined }>();
  let stop: (() => void) | null = null;
  const set = (next: T): void => {
    if (Object.is(next, value)) return;
    value = next;
    for (const s of runs) s.invalidate?.();
    for (const s of [...runs]) if (runs.has(s)) s.run(value);
  };
  const get = (): T => value;
  return {
    get,
    subscribe(run, invalidate) {
      const subscriber = { run, invalidate };
      // Started before joining, so a value set while starting reaches this subscriber once.
      if (runs.size === 0 && start !== undefined) stop = start(set, get);
      runs.add(subscriber);
      run(value);
      return () => {
        if (!runs.delete(subscriber)) return;
        if (runs.size === 0 && stop !== null) {
          const s = stop;
          stop = null;
          s();
        }
      };
    },
  };
}

/**
 * The snapshot-plus-events loop every store shares. Events apply at once, to whatever
 * state is current; a (re)load folds the events that arrived while it ran onto the new
 * snapshot, and the reducers drop those the snapshot already reflects (seq <= its seq).
 * `view` derives the published value once per state (not once per subscriber).
 * Exported for stores of your own over other snapshots (e.g. `systemPrompts.list`).
 */
export function syncedStore<S, V>(options: {
  client: ClientLike;
  initial: S;
  load: (lastSeen: () => number) => Promise<S>;
  reduce: (state: S, event: SidecarEvent) => S;
  view: (state: S, status: LoadStatus) => V;
  /** After each change: may ask for a reload (e.g. events cannot answer). */
  check?: (state: S, status: LoadStatus, refresh: () => Promise<void>) => void;
}): Readable<V> & Refreshable & { current(): S; update(change: (state: S) => S): void } {
  const { client, load, reduce, view, check } = options;
  let state = options.initial;
  let status: LoadStatus = { loading: true, error: null };
  let pending: SidecarEvent[] | null = null;
  let generation = 0;
  let lastSeen = -1;
  let publish: ((value: V) => void) | null = null;
  const show = (): void => {
    publish?.(view(state, status));
    check?.(state, status, refresh);
  };
  const store = readable<V>(view(state, status), (set) => {
    publish = set;
    const offEvent = client.onEvent((event) => {
      lastSeen = event.seq;
      pending?.push(event);
      const next = reduce(state, event);
      if (next !== state) {
        state = next;
        show();
      }
    });
    const offResync = client.onResync(() => {
      lastSeen = -1; // a new session counts seq from 0 again
      return refresh();
    });
    void refresh();
    return () => {
      offEvent();
      offResync();
      publish = null;
      generation += 1; // a load still running lands nowhere
      pending = null;
    };
  });
  async function refresh(): Promise<void> {
    const mine = ++generation;
    pending = [];
    if (!status.loading) {
      status = { loading: true, error: status.error };
      publish?.(view(state, status));
    }
    try {
      const snapshot = await load(() => lastSeen);
      if (mine !== generation) return;
      state = (pending ?? []).reduce(reduce, snapshot);
      status = { loading: false, error: null };
    } catch (error) {
      if (mine !== generation) return;
      status = { loading: false, error };
    }
    pending = null;
    show();
  }
  return {
    subscribe: store.subscribe,
    refresh,
    current: () => state,
    update(change) {
      const next = change(state);
      if (next !== state) {
        state = next;
        show();
      }
    },
  };
}

const withStatus = <S>(state: S, status: LoadStatus): S & LoadStatus => ({ ...state, ...status });

// -- the stores ----------------------------------------------------------------------------

/** The client's connection state ("connecting", "open", "reconnecting", ...). */
export function connectionStore<S extends string>(client: ClientLike<S>): Readable<S> {
  return readable<S>(client.state, (set) => {
    set(client.state);
    return client.onState(set);
  });
}

export type ConversationListView = ConversationListState & LoadStatus;

/** The sidebar: conversations by newest activity (the first `limit`, more with `loadMore`). */
export function conversationListStore(
  client: ClientLike,
  options: { limit?: number } = {},
): Readable<ConversationListView> & Refreshable & { loadMore(): Promise<void> } {
  const params = options.limit === undefined ? {} : { limit: options.limit };
  const store = syncedStore({
    client,
    initial: emptyConversationList(),
    load: async () => conversationListFromSnapshot(await client.request("conversations.list", params)),
    reduce: reduceConversationList,
    view: withStatus<ConversationListState>,
  });
  return {
    subscribe: store.subscribe,
    refresh: store.refresh,
    /** Fetches the next page and appends it (a no-op at the end). Needs a subscriber. */
    async loadMore() {
      const cursor = store.current().nextCursor;
      if (cursor === null) return;
      const page = await client.request("conversations.list", { ...params, cursor });
      // The page only adds older items, so it agrees with the events applied meanwhile.
      store.update((state) => (state.nextCursor === cursor ? appendConversationPage(state, page) : state));
    },
  };
}

/** What `conversationStore` holds: the reducer state plus the views a chat window renders. */
export type ConversationView = ConversationState &
  LoadStatus & {
    /** The active branch, root first, with sibling ids (`conversations.get`'s `messages`). */
    path: PathMessage[];
    /** Some reply of this conversation is still streaming. */
    streamingNow: boolean;
  };

/**
 * One conversation: its active branch with siblings, live streaming text, thinking and tool
 * calls. Reloads by itself when events cannot answer (a switch to a branch it never saw, a
 * lost delta).
 */
export function conversationStore(
  client: ClientLike,
  conversationId: string,
): Readable<ConversationView> & Refreshable {
  let reloadedAt = -2;
  const store = syncedStore({
    client,
    initial: emptyConversation(conversationId),
    load: async () => conversationFromSnapshot(await client.request("conversations.get", { conversationId })),
    reduce: reduceConversation,
    view: (state, status): ConversationView => ({
      ...state,
      ...status,
      path: activePath(state),
      streamingNow: isStreaming(state),
    }),
    check: (state, status, refresh) => {
      if (status.loading || status.error !== null || state.deleted || state.seq === reloadedAt) return;
      const gap = Object.values(state.streaming).some((s) => s.gap);
      if (gap || !pathIsComplete(state)) {
        reloadedAt = state.seq; // once per seq: never a reload loop
        void refresh();
      }
    },
  });
  return { subscribe: store.subscribe, refresh: store.refresh };
}

export type UsageView = UsageState & LoadStatus;

/**
 * Token and cost totals (all calls, or one conversation's), grouped by conversation, model
 * and UTC day, plus per message for calls recorded while subscribed.
 */
export function usageStore(
  client: ClientLike,
  filter: { conversationId?: string } = {},
): Readable<UsageView> & Refreshable {
  const conversationId = filter.conversationId ?? null;
  const summary = (groupBy: UsageSummaryParams["groupBy"]) =>
    client.request("usage.summary", conversationId === null ? { groupBy } : { groupBy, conversationId });
  const store = syncedStore({
    client,
    initial: emptyUsage({ conversationId }),
    load: async (lastSeen) => {
      // Three reads of a table that may grow in between: retry until they agree.
      for (let attempt = 0; ; attempt += 1) {
        const [byConversation, byModel, byDay] = await Promise.all([
          summary("conversation"),
          summary("model"),
          summary("day"),
        ]);
        const calls = byModel.totals.calls;
        if (attempt < 3 && (byConversation.totals.calls !== calls || byDay.totals.calls !== calls)) continue;
        return usageFromSummary({ seq: lastSeen(), conversationId, total: byModel, byConversation, byModel, byDay });
      }
    },
    reduce: reduceUsage,
    view: withStatus<UsageState>,
  });
  return { subscribe: store.subscribe, refresh: store.refresh };
}

export type SettingsView = SettingsState & LoadStatus;

/** The sidecar's settings (`lastModelId`, `defaultModelId`, `preferences`, `providerRoutes`, ...). */
export function settingsStore(client: ClientLike): Readable<SettingsView> & Refreshable {
  const store = syncedStore({
    client,
    initial: emptySettings(),
    load: async (lastSeen) => settingsFromSnapshot((await client.request("settings.get", {})).settings, lastSeen()),
    reduce: reduceSettings,
    view: withStatus<SettingsState>,
  });
  return { subscribe: store.subscribe, refresh: store.refresh };
}

// -- the old app's message shape ---------------------------------------------------------

/** The stores a chat window of the old app reads: its list, its streaming text, and the source. */
export interface ChatMessagesStores {
  /** The active branch as `{ type: "sent" | "received", ... }` items (see `toChatMessages`). */
  messages: Readable<ChatMessage[]>;
  /** The reply in progress, or null. */
  live: Readable<LiveReply | null>;
  /** Its text so far ("" when nothing streams): the old streaming-text store. */
  streamingText: Readable<string>;
  /** Some reply of the conversation is streaming (the old `isStreaming`). */
  streaming: Readable<boolean>;
  /** The conversation store they derive from (loading, error, siblings, `refresh`). */
  conversation: Readable<ConversationView> & Refreshable;
}

/**
 * The old app's message list and streaming text over `conversationStore(client, id)`.
 * Each store publishes only when its own value changes: a stream delta updates
 * `streamingText`, not `messages` (unless `includeLive`).
 */
export function chatMessagesStore(
  client: ClientLike,
  conversationId: string,
  options: ChatMessagesOptions = {},
): ChatMessagesStores {
  return chatMessagesOf(conversationStore(client, conversationId), options);
}

/** `chatMessagesStore` over a conversation store the app already has. */
export function chatMessagesOf(
  conversation: Readable<ConversationView> & Refreshable,
  options: ChatMessagesOptions = {},
): ChatMessagesStores {
  const live = mapped(conversation, (c) => liveReply(c), sameLive, null);
  return {
    messages: mapped(conversation, (c) => toChatMessages(c, options), sameItems, [] as ChatMessage[]),
    live,
    streamingText: mapped(live, (reply) => reply?.text ?? "", Object.is, ""),
    streaming: mapped(conversation, (c) => c.streamingNow, Object.is, false),
    conversation,
  };
}

/**
 * A store of `fn(source)` that keeps its previous value while `equal` says nothing changed.
 * It subscribes to the source only while it has subscribers itself (the source's first
 * value arrives synchronously, before this store's first subscriber runs).
 */
function mapped<S, T>(source: Readable<S>, fn: (value: S) => T, equal: (a: T, b: T) => boolean, initial: T): Readable<T> {
  return readable(initial, (set, get) =>
    source.subscribe((value) => {
      const next = fn(value);
      if (!equal(get(), next)) set(next);
    }),
  );
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

function sameLive(a: LiveReply | null, b: LiveReply | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.messageId === b.messageId &&
    a.status === b.status &&
    a.text === b.text &&
    a.thinking === b.thinking &&
    a.thinkingActive === b.thinkingActive
  );
}
