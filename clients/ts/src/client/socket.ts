/**
 * The part of the platform WebSocket the client uses, so the browser's (or the Tauri
 * webview's) WebSocket works as is and Node tests can pass `ws`. Listeners are added with
 * `addEventListener`, which both implement; method syntax keeps the listener parameter
 * bivariant, so both the DOM and the `ws` typings are assignable.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open" | "error", listener: () => void): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  addEventListener(type: "close", listener: (event: { code: number; reason: string }) => void): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export const OPEN = 1;
export const CLOSED = 3;

/** `ws://host:port/?token=…`: browsers cannot set an Authorization header on a WebSocket. */
export function socketUrl(url: string, token: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set("token", token);
  return parsed.toString();
}

/** The default: the platform's WebSocket (browsers, the Tauri webview, Node 22+). */
export function platformWebSocket(): WebSocketConstructor {
  const ctor = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (ctor === undefined) {
    throw new TypeError("no global WebSocket here: pass ClientOptions.WebSocket (e.g. the `ws` package)");
  }
  return ctor;
}
