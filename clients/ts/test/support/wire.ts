/**
 * A WebSocket class for the client that sits on the real `ws` socket and only watches or
 * drops frames: every inbound frame is validated against schema/, a test can drop one
 * chosen frame (a lost event), kill the TCP connection, or refuse new connections for a
 * while. It never invents a frame, so what the client sees is what the sidecar sent.
 */
import { WebSocket as WS } from "ws";
import type { WebSocketConstructor, WebSocketLike } from "../../src/client.js";
import { validateFrame } from "./schema.js";

export type Frame = Record<string, unknown>;
/** Returns true to swallow the frame (the client never sees it). */
export type Interceptor = (frame: Frame, socket: WireSocket) => boolean;

export interface Wire {
  /** Pass as `ClientOptions.WebSocket`. */
  WebSocket: WebSocketConstructor;
  /** Every socket opened, oldest first. */
  sockets: WireSocket[];
  /** Every inbound frame, parsed, in order (including swallowed ones). */
  inbound: Frame[];
  /** Every outbound request, parsed, in order. */
  outbound: Frame[];
  /** Schema violations found in inbound frames (a test asserts this stays empty). */
  violations: string[];
  /** Frames that passed validation. */
  validatedCount: number;
  /** Consulted for each inbound frame until it returns true once, then removed. */
  interceptOnce(interceptor: Interceptor): void;
  /** While true, new sockets are pointed at a closed port (the sidecar seems gone). */
  refuse: boolean;
  /** The socket the client uses now. */
  current(): WireSocket;
  /** Events (notification params) the client was sent, in order. */
  events(): (Frame & { seq: number; type: string })[];
}

export class WireSocket implements WebSocketLike {
  readonly ws: WS;
  constructor(
    url: string,
    private readonly wire: WireState,
  ) {
    this.ws = new WS(wire.refuse ? "ws://127.0.0.1:9/" : url);
    wire.sockets.push(this);
  }

  get readyState(): number {
    return this.ws.readyState;
  }

  send(data: string): void {
    this.wire.outbound.push(JSON.parse(data) as Frame);
    this.ws.send(data);
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }

  /** Drops the TCP connection without a close handshake (a crash, a network cut). */
  kill(): void {
    this.ws.terminate();
  }

  addEventListener(type: "open" | "error", listener: () => void): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  addEventListener(type: "close", listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(
    type: "open" | "error" | "message" | "close",
    listener: (event: { data: unknown } & { code: number; reason: string }) => void,
  ): void {
    if (type !== "message") {
      this.ws.addEventListener(type, listener as () => void);
      return;
    }
    this.ws.addEventListener("message", (event) => {
      if (!this.wire.inspect(String(event.data), this)) {
        (listener as (event: { data: unknown }) => void)({ data: event.data });
      }
    });
  }
}

class WireState implements Wire {
  sockets: WireSocket[] = [];
  inbound: Frame[] = [];
  outbound: Frame[] = [];
  violations: string[] = [];
  validatedCount = 0;
  refuse = false;
  private interceptors: Interceptor[] = [];
  readonly WebSocket: WebSocketConstructor;

  constructor() {
    const wire = this;
    this.WebSocket = class extends WireSocket {
      constructor(url: string) {
        super(url, wire);
      }
    };
  }

  interceptOnce(interceptor: Interceptor): void {
    this.interceptors.push(interceptor);
  }

  current(): WireSocket {
    const socket = this.sockets.at(-1);
    if (socket === undefined) throw new Error("no socket yet");
    return socket;
  }

  events(): (Frame & { seq: number; type: string })[] {
    return this.inbound
      .filter((f) => typeof f.method === "string" && !("id" in f))
      .map((f) => f.params as Frame & { seq: number; type: string });
  }

  /** Validates and records one inbound frame; true when an interceptor swallowed it. */
  inspect(text: string, socket: WireSocket): boolean {
    const frame = JSON.parse(text) as Frame;
    this.inbound.push(frame);
    try {
      validateFrame(frame, (id) => this.methodOf(id));
      this.validatedCount += 1;
    } catch (error) {
      this.violations.push((error as Error).message);
    }
    const index = this.interceptors.findIndex((interceptor) => interceptor(frame, socket));
    if (index < 0) return false;
    this.interceptors.splice(index, 1);
    return true;
  }

  private methodOf(id: unknown): string | undefined {
    const request = this.outbound.find((f) => f.id === id);
    return typeof request?.method === "string" ? request.method : undefined;
  }
}

export function createWire(): Wire {
  return new WireState();
}
