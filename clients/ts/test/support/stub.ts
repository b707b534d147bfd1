/**
 * A tiny scripted WebSocket server for what a well-behaved sidecar never does on cue: answer
 * another protocol version, never answer, send duplicates or skip a seq. It answers
 * `initialize` and `events.subscribe` by itself (overridable); everything else goes to
 * `onRequest`.
 */
import { WebSocketServer, type WebSocket } from "ws";

export type Message = { jsonrpc: "2.0"; id?: number; method: string; params?: Record<string, unknown> };

export interface StubOptions {
  protocolVersion?: number;
  sessionId?: string;
  lastSeq?: number;
  /** Return true when the request was handled (answered or deliberately ignored). */
  onRequest?: (message: Message, socket: StubSocket) => boolean | void;
}

export interface StubSocket {
  reply(id: number | undefined, result: unknown): void;
  event(type: string, seq: number, fields?: Record<string, unknown>): void;
  close(code?: number): void;
  terminate(): void;
}

export interface Stub {
  url: string;
  port: number;
  /** Every request received, in order, with the index of the connection it came on. */
  received: (Message & { connection: number })[];
  connections: number;
  /** Connections currently open (the server's view). */
  openSockets(): number;
  last(): StubSocket;
  stop(): Promise<void>;
}

export async function startStub(options: StubOptions = {}): Promise<Stub> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  const port = (server.address() as { port: number }).port;
  const sockets: StubSocket[] = [];
  const live = new Set<WebSocket>();

  const stub: Stub = {
    url: `ws://127.0.0.1:${port}`,
    port,
    received: [],
    connections: 0,
    openSockets: () => live.size,
    last() {
      const socket = sockets.at(-1);
      if (socket === undefined) throw new Error("no connection yet");
      return socket;
    },
    async stop() {
      for (const ws of live) ws.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  server.on("connection", (ws) => {
    const connection = stub.connections++;
    live.add(ws);
    ws.on("close", () => live.delete(ws));
    const socket: StubSocket = {
      reply: (id, result) => ws.send(JSON.stringify({ jsonrpc: "2.0", id, result })),
      event: (type, seq, fields = {}) =>
        ws.send(
          JSON.stringify({
            jsonrpc: "2.0",
            method: type,
            params: { type, seq, ts: "2025-01-01T00:00:00Z", ...fields },
          }),
        ),
      close: (code) => ws.close(code),
      terminate: () => ws.terminate(),
    };
    sockets.push(socket);
    ws.on("message", (data) => {
      const message = JSON.parse(String(data)) as Message;
      stub.received.push({ ...message, connection });
      if (options.onRequest?.(message, socket) === true) return;
      if (message.method === "initialize") {
        socket.reply(message.id, {
          protocolVersion: options.protocolVersion ?? 1,
          serverInfo: { name: "stub", version: "0" },
          sessionId: options.sessionId ?? "stub-session",
          lastSeq: options.lastSeq ?? 0,
          capabilities: { methods: [], events: [], replayBufferSize: 10, maxFrameBytes: 1 << 20 },
        });
      } else if (message.method === "events.subscribe") {
        socket.reply(message.id, { lastSeq: options.lastSeq ?? 0, replayed: 0 });
      }
    });
  });
  return stub;
}
