/**
 * SidecarClient: one WebSocket to the sidecar, typed requests, ordered events, and a
 * connection that heals itself.
 *
 * Connecting is `initialize` then `events.subscribe`. After a drop the client reconnects
 * with backoff and resumes with `since` = the last seq it delivered, so listeners see every
 * event exactly once and in order; when that is impossible (the replay buffer moved on, or
 * the sidecar restarted and its seq began again) it subscribes live and fires `onResync`,
 * and whoever holds state reloads snapshots. Requests made while reconnecting wait; reads
 * and `chat.send`/`chat.record` (deduplicated by `clientRequestId`) that were in flight are
 * sent again.
 */
import {
  PROTOCOL_VERSION,
  type EventType,
  type Events,
  type InitializeResult,
  type MethodName,
  type ParamsOf,
  type ResultOf,
  type SidecarEvent,
} from "../generated/protocol.js";
import { Backoff, type BackoffOptions } from "./backoff.js";
import {
  ConnectionError,
  ProtocolMismatchError,
  RpcError,
  assertProtocolVersion,
  isRecord,
} from "./errors.js";
import { DEDUPLICATED, PendingTable, type Outgoing } from "./pending.js";
import { EventSequencer } from "./sequencer.js";
import {
  CLOSED,
  OPEN,
  platformWebSocket,
  socketUrl,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./socket.js";

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/**
 * Why the client had to subscribe live and listeners must reload snapshots:
 * `resync-required`: events after the last seen seq are no longer held (after a reconnect,
 * or after a gap on a live connection that a replay could not fill); `session-changed`:
 * the sidecar restarted.
 */
export type ResyncReason = "resync-required" | "session-changed";

export interface ClientOptions {
  /** `ws://127.0.0.1:PORT`, from the sidecar's ready line. */
  url: string;
  token: string;
  clientInfo?: { name: string; version?: string };
  /** Default: the platform's `globalThis.WebSocket`. Node tests pass `ws`. */
  WebSocket?: WebSocketConstructor;
  /** `false`: a lost connection closes the client. Default: reconnect forever with backoff. */
  reconnect?: false | BackoffOptions;
  /** Default 30 s; also bounds each connection attempt. Non-positive or Infinity: none. */
  requestTimeoutMs?: number;
}

export interface RequestOptions {
  /** Stops waiting (rejects with the signal's reason); the sidecar may still act on it. */
  signal?: AbortSignal;
  timeoutMs?: number;
}

type Listener<T> = (value: T) => void;
type ResyncListener = (reason: ResyncReason) => void | Promise<void>;

interface Waiter {
  resolve(result: InitializeResult): void;
  reject(error: unknown): void;
}

const CLOSE_WAIT_MS = 1_000;

export class SidecarClient {
  private readonly url: string;
  /** The URL with the token: never put in a message or a log. */
  private readonly address: string;
  private readonly WebSocketClass: WebSocketConstructor;
  private readonly backoff: Backoff | null;
  private readonly timeoutMs: number;
  private readonly clientInfo: { name: string; version?: string };

  private readonly pending = new PendingTable();
  private readonly feed = new EventSequencer<SidecarEvent>();

  private socket: WebSocketLike | null = null;
  private current: ConnectionState = "idle";
  private session: string | null = null;
  private live: InitializeResult | null = null;
  private failure: Error | null = null;
  private waiters: Waiter[] = [];
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private closing: Promise<void> | null = null;

  private readonly eventListeners = new Set<Listener<SidecarEvent>>();
  private readonly typedListeners = new Map<string, Set<Listener<SidecarEvent>>>();
  private readonly stateListeners = new Set<Listener<ConnectionState>>();
  private readonly resyncListeners = new Set<ResyncListener>();

  constructor(options: ClientOptions) {
    this.url = options.url;
    this.WebSocketClass = options.WebSocket ?? platformWebSocket();
    this.backoff = options.reconnect === false ? null : new Backoff(options.reconnect);
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.clientInfo = options.clientInfo ?? { name: "@chat-sidecar/client" };
    this.address = socketUrl(options.url, options.token);
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** The sidecar's session (changes when it restarts); null before the first connect. */
  get sessionId(): string | null {
    return this.session;
  }

  /** The seq of the last event delivered to listeners (or where the feed began); -1 before. */
  get lastSeq(): number {
    return this.feed.lastSeq;
  }

  /** The `initialize` answer of the current (or last) connection: versions, capabilities. */
  get server(): InitializeResult | null {
    return this.live;
  }

  /** Why the client closed itself (protocol mismatch, connection lost with reconnect off). */
  get closeError(): Error | null {
    return this.failure;
  }

  /**
   * Opens the connection, `initialize`, `events.subscribe`; resolves once live. Idempotent:
   * while connecting or reconnecting it resolves when live. The first attempt is not
   * retried (a wrong URL or token fails fast); after that, drops are healed by reconnecting.
   */
  connect(): Promise<InitializeResult> {
    if (this.current === "closed") {
      return Promise.reject(this.failure ?? new ConnectionError("the client is closed"));
    }
    if (this.current === "open" && this.live !== null) return Promise.resolve(this.live);
    const live = new Promise<InitializeResult>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
    });
    if (this.current === "idle") {
      this.setState("connecting");
      this.attempt();
    }
    return live;
  }

  /**
   * Calls a method. Waits for the connection while connecting or reconnecting. `chat.send`
   * and `chat.record` get a `clientRequestId` when they have none, so a re-send after a
   * reconnect does nothing twice. Rejects with RpcError (the sidecar's answer), TimeoutError, the abort
   * signal's reason, or ConnectionError (closed, or lost after sending a request that is
   * not safe to repeat). `initialize` and `events.subscribe` are the client's own business.
   */
  request<M extends MethodName>(
    method: M,
    params: ParamsOf<M>,
    options: RequestOptions = {},
  ): Promise<ResultOf<M>> {
    if (this.current === "closed") {
      return Promise.reject(this.failure ?? new ConnectionError(`${method}: the client is closed`));
    }
    const body = DEDUPLICATED.has(method) ? withClientRequestId(params as Deduplicated) : params;
    const { entry, promise } = this.pending.add(method, body, {
      timeoutMs: options.timeoutMs ?? this.timeoutMs,
      signal: options.signal,
    });
    if (this.current === "open") this.write(entry);
    return promise as Promise<ResultOf<M>>;
  }

  /** Events of one type, in seq order, each once. Returns the unsubscribe function. */
  on<E extends EventType>(type: E, listener: (event: Events[E]) => void): () => void {
    let listeners = this.typedListeners.get(type);
    if (listeners === undefined) this.typedListeners.set(type, (listeners = new Set()));
    const typed = listener as Listener<SidecarEvent>;
    listeners.add(typed);
    return () => {
      listeners.delete(typed);
    };
  }

  /** Every event, in seq order, each once. */
  onEvent(listener: (event: SidecarEvent) => void): () => void {
    return subscribe(this.eventListeners, listener);
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    return subscribe(this.stateListeners, listener);
  }

  /**
   * Events were lost (see ResyncReason): fired once the client is subscribed live again.
   * Reload snapshots; each carries `seq`, and events at or below it are already in it.
   */
  onResync(listener: (reason: ResyncReason) => void | Promise<void>): () => void {
    return subscribe(this.resyncListeners, listener);
  }

  /** Closes the socket, stops reconnecting and rejects what is pending; leaves no timer behind. */
  close(): Promise<void> {
    this.closing ??= this.shutdown(new ConnectionError("the client was closed"));
    return this.closing;
  }

  // -- connecting -------------------------------------------------------------------------

  /** One connection attempt; on failure decides between retrying, going idle and closing. */
  private attempt(): void {
    this.handshake().catch((error: unknown) => {
      if (this.current === "closed") return;
      if (error instanceof ProtocolMismatchError) {
        this.failure = error;
        void this.shutdown(error);
      } else if (this.current === "connecting") {
        this.setState("idle");
        this.settleWaiters(error);
      } else {
        this.scheduleReconnect();
      }
    });
  }

  private async handshake(): Promise<void> {
    const socket = await this.openSocket();
    try {
      const init = await this.call("initialize", {
        protocolVersion: PROTOCOL_VERSION,
        clientInfo: this.clientInfo,
      });
      assertProtocolVersion(init.protocolVersion);
      const resync = await this.subscribeFeed(init);
      if (this.socket !== socket) throw new ConnectionError("the connection was lost");
      this.live = init;
      this.backoff?.reset();
      this.setState("open");
      for (const entry of this.pending.unsent()) this.write(entry);
      this.settleWaiters(null);
      if (resync !== null) this.fireResync(resync);
    } catch (error) {
      if (this.socket === socket) this.dropSocket(socket);
      throw error;
    }
  }

  /**
   * Resumes after the last seen seq when possible; else subscribes live and says why. The
   * session is taken over only once subscribed, so a handshake that fails halfway is
   * judged the same way again by the next attempt.
   */
  private async subscribeFeed(init: InitializeResult): Promise<ResyncReason | null> {
    const restarted = this.session !== null && this.session !== init.sessionId;
    let reason: ResyncReason | null = restarted ? "session-changed" : null;
    if (this.feed.lastSeq >= 0 && !restarted) {
      try {
        await this.call("events.subscribe", { since: this.feed.lastSeq });
      } catch (error) {
        if (!isResyncRequired(error)) throw error;
        await this.subscribeLive();
        reason = "resync-required";
      }
    } else {
      await this.subscribeLive();
    }
    this.session = init.sessionId;
    return reason;
  }

  /** `events.subscribe` without `since`; the feed continues after the answer's `lastSeq`. */
  private async subscribeLive(): Promise<void> {
    this.feed.hold();
    let result: ResultOf<"events.subscribe">;
    try {
      result = await this.call("events.subscribe", {});
    } catch (error) {
      this.feed.discardHeld();
      throw error;
    }
    for (const event of this.feed.startAt(result.lastSeq)) this.accept(event);
  }

  private openSocket(): Promise<WebSocketLike> {
    return new Promise<WebSocketLike>((resolve, reject) => {
      const socket = new this.WebSocketClass(this.address);
      this.socket = socket;
      const timer =
        Number.isFinite(this.timeoutMs) && this.timeoutMs > 0
          ? setTimeout(() => socket.close(), this.timeoutMs)
          : undefined;
      socket.addEventListener("open", () => {
        clearTimeout(timer);
        if (this.socket === socket) resolve(socket);
      });
      socket.addEventListener("message", (event) => {
        if (this.socket === socket) this.receive(event.data);
      });
      socket.addEventListener("error", () => {
        // A close event always follows; the reason is only visible there.
      });
      socket.addEventListener("close", (event) => {
        clearTimeout(timer);
        reject(new ConnectionError(`cannot reach the sidecar at ${this.url} (close code ${event.code})`));
        if (this.socket === socket) this.socketClosed();
      });
    });
  }

  /** The current socket closed under us (not by close()). */
  private socketClosed(): void {
    this.socket = null;
    this.pending.connectionLost();
    if (this.current !== "open") return; // a failing handshake decides in attempt()
    if (this.backoff === null) {
      this.failure = new ConnectionError("the connection to the sidecar was lost");
      void this.shutdown(this.failure);
      return;
    }
    this.setState("reconnecting");
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.backoff === null || this.reconnectTimer !== undefined) return;
    this.setState("reconnecting");
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.current === "reconnecting") this.attempt();
    }, this.backoff.next());
  }

  /** Gives up on a socket (handshake failed): its close event is no longer ours. */
  private dropSocket(socket: WebSocketLike): void {
    this.socket = null;
    this.pending.connectionLost();
    socket.close(1000);
  }

  private async shutdown(error: unknown): Promise<void> {
    this.setState("closed");
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.pending.failAll(error);
    this.settleWaiters(error);
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) await closeSocket(socket);
  }

  private settleWaiters(error: unknown): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      if (error === null && this.live !== null) waiter.resolve(this.live);
      else waiter.reject(error);
    }
  }

  // -- frames -------------------------------------------------------------------------------

  /** A request of the client's own, written at once on the current socket. */
  private call<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    const { entry, promise } = this.pending.add(method, params, {
      internal: true,
      timeoutMs: this.timeoutMs,
    });
    this.write(entry);
    return promise as Promise<ResultOf<M>>;
  }

  private write(entry: Outgoing): void {
    const socket = this.socket;
    if (socket === null || socket.readyState !== OPEN || !this.pending.isPending(entry.id)) return;
    const frame = { jsonrpc: "2.0", id: entry.id, method: entry.method, params: entry.params };
    try {
      socket.send(JSON.stringify(frame));
      entry.sent = true;
    } catch {
      // The socket is closing; its close event re-queues or fails the request.
    }
  }

  private receive(data: unknown): void {
    if (typeof data !== "string") return; // the sidecar sends text frames only
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
      if (!isRecord(message)) continue;
      if (typeof message.method === "string" && !("id" in message)) {
        const params = message.params;
        if (isRecord(params) && typeof params.seq === "number") {
          this.accept(params as unknown as SidecarEvent);
        }
      } else {
        this.pending.answer(message);
      }
    }
  }

  // -- events -------------------------------------------------------------------------------

  private accept(event: SidecarEvent): void {
    switch (this.feed.judge(event)) {
      case "deliver":
        this.emit(event);
        break;
      case "gap":
        void this.recoverGap();
        break;
      default:
        break;
    }
  }

  /**
   * A frame was lost on a live connection: ask for a replay after the last delivered seq
   * on the same socket (what arrives twice is dropped by seq). If the sidecar no longer
   * holds those events, subscribe live and let listeners reload.
   */
  private async recoverGap(): Promise<void> {
    const socket = this.socket;
    try {
      await this.call("events.subscribe", { since: this.feed.lastSeq });
      this.feed.recovered();
    } catch (error) {
      this.feed.recovered();
      if (!isResyncRequired(error) || this.socket !== socket) return; // a reconnect resumes
      try {
        await this.subscribeLive();
      } catch {
        return; // the connection dropped meanwhile; the reconnect takes over
      }
      this.fireResync("resync-required");
    }
  }

  private emit(event: SidecarEvent): void {
    for (const listener of this.eventListeners) safely(listener, event);
    const typed = this.typedListeners.get(event.type);
    if (typed !== undefined) for (const listener of typed) safely(listener, event);
  }

  private fireResync(reason: ResyncReason): void {
    for (const listener of this.resyncListeners) {
      try {
        const done = listener(reason);
        if (done instanceof Promise) done.catch(report);
      } catch (error) {
        report(error);
      }
    }
  }

  private setState(state: ConnectionState): void {
    if (this.current === state) return;
    this.current = state;
    for (const listener of this.stateListeners) safely(listener, state);
  }
}

function isResyncRequired(error: unknown): boolean {
  return error instanceof RpcError && error.reason === "RESYNC_REQUIRED";
}

type Deduplicated = { clientRequestId?: string | null };

function withClientRequestId(params: Deduplicated): Deduplicated {
  return params.clientRequestId == null ? { ...params, clientRequestId: randomId() } : params;
}

/** A UUIDv4; `crypto.randomUUID` where the platform has it (secure contexts). */
function randomId(): string {
  const crypto = globalThis.crypto;
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function subscribe<T>(set: Set<T>, item: T): () => void {
  set.add(item);
  return () => {
    set.delete(item);
  };
}

/** One throwing listener must not stop the others or the event feed. */
function safely<T>(listener: Listener<T>, value: T): void {
  try {
    listener(value);
  } catch (error) {
    report(error);
  }
}

function report(error: unknown): void {
  if (typeof reportError === "function") reportError(error);
  else console.error("@chat-sidecar/client: a listener threw", error);
}

/** Closes a socket and waits for its close event (bounded, the timer is always cleared). */
function closeSocket(socket: WebSocketLike): Promise<void> {
  if (socket.readyState === CLOSED) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, CLOSE_WAIT_MS);
    socket.addEventListener("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.close(1000);
  });
}
