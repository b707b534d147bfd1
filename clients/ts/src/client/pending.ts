/**
 * The table of requests waiting for an answer: ids, timeouts, abort signals, and what
 * happens to each when the socket drops. It knows nothing about sockets; the client asks it
 * which requests still have to go out and hands it every response.
 */
import { DEDUPLICATED_METHODS, SAFE_TO_RESEND_METHODS, type MethodName } from "../generated/protocol.js";
import { ConnectionError, RpcError, TimeoutError, abortReason, isRecord } from "./errors.js";

/**
 * Methods whose calls get a `clientRequestId` when they have none: the sidecar answers a
 * repeat with the first result (also across its restarts) and does nothing twice. Like
 * `SAFE_TO_RESEND`, read from each method's declaration in the schema.
 */
export const DEDUPLICATED = DEDUPLICATED_METHODS;

/** Methods that may be sent again after a reconnect: reads, and the deduplicated ones. */
export const SAFE_TO_RESEND = SAFE_TO_RESEND_METHODS;

export interface Outgoing {
  readonly id: number;
  readonly method: string;
  readonly params: unknown;
  /** Belongs to one socket's handshake (initialize, events.subscribe): never queued or re-sent. */
  readonly internal: boolean;
  /** Written to the current socket and not answered yet. */
  sent: boolean;
}

interface Entry extends Outgoing {
  readonly resend: boolean;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  /** Clears the timer and the abort listener. */
  release(): void;
}

export interface AddOptions {
  internal?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
}

export class PendingTable {
  private nextId = 1;
  private readonly entries = new Map<number, Entry>();

  get size(): number {
    return this.entries.size;
  }

  /** False once the request was answered, timed out, aborted or failed. */
  isPending(id: number): boolean {
    return this.entries.has(id);
  }

  /** Registers a request; the promise settles on its answer, timeout, abort or loss. */
  add(method: string, params: unknown, options: AddOptions = {}): { entry: Outgoing; promise: Promise<unknown> } {
    const id = this.nextId++;
    const { signal } = options;
    let entry!: Entry;
    const promise = new Promise<unknown>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => this.fail(id, abortReason(signal!));
      entry = {
        id,
        method,
        params,
        internal: options.internal ?? false,
        resend: SAFE_TO_RESEND.has(method as MethodName),
        sent: false,
        resolve,
        reject,
        release: () => {
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        },
      };
      const ms = options.timeoutMs;
      if (ms !== undefined && Number.isFinite(ms) && ms > 0) {
        timer = setTimeout(
          () => this.fail(id, new TimeoutError(`${method}: no answer within ${ms} ms`)),
          ms,
        );
      }
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    this.entries.set(id, entry);
    if (signal?.aborted) this.fail(id, abortReason(signal));
    return { entry, promise };
  }

  /** Settles the request a response frame answers; false when nobody waits for it any more. */
  answer(message: Record<string, unknown>): boolean {
    const entry = typeof message.id === "number" ? this.entries.get(message.id) : undefined;
    if (entry === undefined) return false;
    this.entries.delete(entry.id);
    entry.release();
    if ("error" in message) {
      const error = isRecord(message.error) ? message.error : {};
      const code = typeof error.code === "number" ? error.code : -32603;
      const text = typeof error.message === "string" ? error.message : "error";
      entry.reject(new RpcError(entry.method, code, text, error.data));
    } else {
      entry.resolve(message.result);
    }
    return true;
  }

  /** Requests that still have to be written once the connection is live, oldest first. */
  unsent(): Outgoing[] {
    return [...this.entries.values()].filter((e) => !e.sent && !e.internal);
  }

  /**
   * The socket is gone. Handshake requests fail; requests safe to repeat wait to be sent
   * again; any other request that was already written fails, since it may or may not
   * have taken effect.
   */
  connectionLost(): void {
    for (const entry of [...this.entries.values()]) {
      if (entry.internal || (entry.sent && !entry.resend)) {
        this.fail(
          entry.id,
          new ConnectionError(
            `${entry.method}: the connection was lost before the answer` +
              (entry.internal ? "" : "; the request may or may not have taken effect"),
          ),
        );
      } else {
        entry.sent = false;
      }
    }
  }

  /** Rejects every request (close, or a fatal error). */
  failAll(error: unknown): void {
    for (const id of [...this.entries.keys()]) this.fail(id, error);
  }

  private fail(id: number, error: unknown): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    entry.release();
    entry.reject(error);
  }
}
