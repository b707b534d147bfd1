/**
 * Connection lifecycle against a scripted stub server (things a real sidecar does not do on
 * cue): protocol mismatch, silence (timeouts), aborts, duplicates and gaps, reconnect
 * backoff, and close() leaving no socket, timer or pending promise behind.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket as WS } from "ws";
import {
  ConnectionError,
  PROTOCOL_VERSION,
  ProtocolMismatchError,
  SidecarClient,
  TimeoutError,
  assertProtocolVersion,
  type ClientOptions,
  type SidecarEvent,
} from "../src/index.js";
import { Backoff } from "../src/client/backoff.js";
import { sleep, waitUntil } from "./support/chat.js";
import { startStub, type Stub } from "./support/stub.js";

const stubs: Stub[] = [];
const clients: SidecarClient[] = [];

async function stub(options: Parameters<typeof startStub>[0] = {}): Promise<Stub> {
  const s = await startStub(options);
  stubs.push(s);
  return s;
}

function client(url: string, options: Partial<ClientOptions> = {}): SidecarClient {
  const c = new SidecarClient({ url, token: "t", WebSocket: WS, ...options });
  clients.push(c);
  return c;
}

/** Node's live timers: a closed client must not leave one behind. */
const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(stubs.splice(0).map((s) => s.stop()));
});

describe("protocol version", () => {
  it("refuses a sidecar of another major version, naming both versions, and never retries", async () => {
    const server = await stub({ protocolVersion: PROTOCOL_VERSION + 1 });
    const c = client(server.url, { reconnect: { initialDelayMs: 10 } });
    const queued = c.request("settings.get", {}).catch((e: unknown) => e);
    const error = await c.connect().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolMismatchError);
    expect((error as Error).message).toBe(
      `the sidecar speaks protocol version ${PROTOCOL_VERSION + 1} but this client speaks version ` +
        `${PROTOCOL_VERSION}; install a client and sidecar of the same major version`,
    );
    expect(error).toMatchObject({ sidecarVersion: PROTOCOL_VERSION + 1, clientVersion: PROTOCOL_VERSION });
    expect(await queued).toBe(error);
    expect(c.state).toBe("closed");
    expect(c.closeError).toBe(error);
    await waitUntil(() => server.openSockets() === 0, 2_000, "the stub to see the socket closed");
    await sleep(200);
    expect(server.connections).toBe(1);
    expect(server.received.map((m) => m.method)).toEqual(["initialize"]);
    expect(server.received[0]?.params).toEqual({
      protocolVersion: PROTOCOL_VERSION,
      clientInfo: { name: "@chat-sidecar/client" },
    });
    await expect(c.connect()).rejects.toBe(error);
  });

  it("compares the major version only", () => {
    expect(() => assertProtocolVersion(PROTOCOL_VERSION)).not.toThrow();
    expect(() => assertProtocolVersion(PROTOCOL_VERSION + 0.2)).not.toThrow();
    expect(() => assertProtocolVersion(PROTOCOL_VERSION + 1)).toThrow(ProtocolMismatchError);
    expect(() => assertProtocolVersion(PROTOCOL_VERSION - 1)).toThrow(ProtocolMismatchError);
    expect(() => assertProtocolVersion("1")).toThrow(ProtocolMismatchError);
  });
});

describe("requests", () => {
  it("sends requests made before connect() once initialize and events.subscribe are done", async () => {
    const server = await stub({
      onRequest: (m, s) => {
        if (m.method !== "settings.get") return false;
        s.reply(m.id, { settings: { marker: "ok" } });
        return true;
      },
    });
    const c = client(server.url);
    const early = c.request("settings.get", {});
    expect(c.state).toBe("idle");
    const init = await c.connect();
    expect(init.sessionId).toBe("stub-session");
    expect(await early).toEqual({ settings: { marker: "ok" } });
    expect(server.received.map((m) => m.method)).toEqual(["initialize", "events.subscribe", "settings.get"]);
    expect(server.received[1]?.params).toEqual({});
    expect(await c.connect()).toBe(init);
  });

  it("times out with TimeoutError, and ignores the late answer", async () => {
    const server = await stub({
      onRequest: (m, s) => {
        if (m.method !== "settings.get") return false;
        setTimeout(() => s.reply(m.id, { settings: {} }), 150);
        return true;
      },
    });
    const c = client(server.url, { requestTimeoutMs: 50 });
    await c.connect();
    const error = await c.request("settings.get", {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toBe("settings.get: no answer within 50 ms");
    const longer = await c.request("settings.get", {}, { timeoutMs: 1_000 });
    expect(longer).toEqual({ settings: {} });
    await sleep(200); // the first request's late answer arrives and is dropped
    expect(c.state).toBe("open");
  });

  it("AbortSignal: rejects with AbortError, a pre-aborted signal sends nothing, a reason is kept", async () => {
    const server = await stub({ onRequest: (m) => m.method === "settings.get" });
    const c = client(server.url);
    await c.connect();

    const controller = new AbortController();
    const inFlight = c.request("settings.get", {}, { signal: controller.signal });
    await waitUntil(() => server.received.some((m) => m.method === "settings.get"));
    controller.abort();
    const error = await inFlight.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe("AbortError");

    const sentBefore = server.received.length;
    await expect(c.request("settings.get", {}, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: "AbortError",
    });
    const reason = new Error("user left the page");
    const custom = new AbortController();
    custom.abort(reason);
    await expect(c.request("settings.get", {}, { signal: custom.signal })).rejects.toBe(reason);
    await sleep(50);
    expect(server.received.length).toBe(sentBefore);
  });
});

describe("event order", () => {
  it("drops duplicates, and a gap asks for a replay after the last delivered seq", async () => {
    const server = await stub({
      onRequest: (m, s) => {
        if (m.method !== "events.subscribe" || m.params?.since !== 3) return false;
        s.event("settings.updated", 4); // the replay overlaps what was already seen
        s.event("settings.updated", 3);
        s.event("settings.updated", 4);
        s.event("settings.updated", 5);
        s.reply(m.id, { lastSeq: 5, replayed: 2 });
        return true;
      },
    });
    const c = client(server.url);
    const seen: number[] = [];
    c.onEvent((e: SidecarEvent) => seen.push(e.seq));
    await c.connect();
    const s = server.last();
    s.event("settings.updated", 1);
    s.event("settings.updated", 2);
    s.event("settings.updated", 2);
    s.event("settings.updated", 1);
    s.event("settings.updated", 3);
    s.event("settings.updated", 5); // 4 was lost
    s.event("settings.updated", 6);
    await waitUntil(() => seen.length >= 5);
    s.event("settings.updated", 6);
    s.event("settings.updated", 7);
    await waitUntil(() => seen.at(-1) === 7);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const subscribes = server.received.filter((m) => m.method === "events.subscribe").map((m) => m.params);
    expect(subscribes).toEqual([{}, { since: 3 }]);
    expect(c.lastSeq).toBe(7);
  });

  it("holds events that arrive before the live subscribe's answer and starts after its lastSeq", async () => {
    const server = await stub({
      onRequest: (m, s) => {
        if (m.method !== "events.subscribe") return false;
        s.event("settings.updated", 10);
        s.event("settings.updated", 11);
        s.reply(m.id, { lastSeq: 10, replayed: 0 });
        s.event("settings.updated", 12);
        return true;
      },
    });
    const c = client(server.url);
    const seen: number[] = [];
    c.on("settings.updated", (e) => seen.push(e.seq));
    await c.connect();
    await waitUntil(() => seen.length === 2);
    expect(seen).toEqual([11, 12]);
  });
});

describe("reconnecting", () => {
  it("grows the delay by `factor` up to the cap, with jitter below each step", () => {
    const none = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000, factor: 2, jitter: 0.5 }, () => 0);
    expect(Array.from({ length: 6 }, () => none.next())).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    none.reset();
    expect(none.next()).toBe(100);
    const full = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000, jitter: 0.5 }, () => 1);
    expect([full.next(), full.next()]).toEqual([50, 100]);
    const random = new Backoff({ initialDelayMs: 100, jitter: 0.3 });
    for (let i = 0; i < 50; i += 1) {
      random.reset();
      const delay = random.next();
      expect(delay).toBeGreaterThanOrEqual(70);
      expect(delay).toBeLessThanOrEqual(100);
    }
  });

  it("reconnects after the server drops it, and the connect() promise of the reconnect resolves", async () => {
    const server = await stub();
    const c = client(server.url, { reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    const states: string[] = [];
    c.onState((s) => states.push(s));
    await c.connect();
    server.last().terminate();
    // The recorded states, not a poll of c.state: on a busy machine the 10 ms reconnect can
    // be open again before a poll sees "reconnecting" (connect() resolves either way).
    await waitUntil(() => states.includes("reconnecting"));
    const again = c.connect();
    await again;
    expect(states).toEqual(["connecting", "open", "reconnecting", "open"]);
    expect(server.connections).toBe(2);
    expect(server.received.filter((m) => m.method === "events.subscribe").map((m) => m.params)).toEqual([
      {},
      { since: 0 },
    ]);
  });

  it("with reconnect: false a drop closes the client and fails what is pending", async () => {
    const server = await stub({ onRequest: (m) => m.method === "settings.get" });
    const c = client(server.url, { reconnect: false });
    await c.connect();
    const pending = c.request("settings.get", {});
    await waitUntil(() => server.received.some((m) => m.method === "settings.get"));
    server.last().terminate();
    await expect(pending).rejects.toBeInstanceOf(ConnectionError);
    expect(c.state).toBe("closed");
    expect(c.closeError).toBeInstanceOf(ConnectionError);
    await sleep(100);
    expect(server.connections).toBe(1);
  });

  it("a first connect to nothing fails fast without retrying; connect() can be tried again", async () => {
    const server = await stub();
    const url = server.url;
    await server.stop();
    stubs.splice(0);
    const c = client(url, { reconnect: { initialDelayMs: 10 } });
    const error = await c.connect().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toContain(url);
    expect((error as Error).message).not.toContain("token");
    expect(c.state).toBe("idle");
  });
});

describe("close", () => {
  it("leaves no socket, timer or pending promise, and nothing reconnects afterwards", async () => {
    const baseline = timers();
    const server = await stub({ onRequest: (m) => m.method === "settings.get" });
    const c = client(server.url, { reconnect: { initialDelayMs: 5, maxDelayMs: 10 } });
    await c.connect();
    const pending = [c.request("settings.get", {}), c.request("conversations.list", {})];
    await waitUntil(() => server.received.some((m) => m.method === "settings.get"));
    expect(timers()).toBeGreaterThan(baseline); // the two request timeouts

    const outcomes = Promise.allSettled(pending);
    await c.close();
    expect(c.state).toBe("closed");
    for (const outcome of await outcomes) {
      expect(outcome).toMatchObject({ status: "rejected", reason: { name: "ConnectionError" } });
    }
    await waitUntil(() => server.openSockets() === 0, 2_000, "the server to see the close");
    expect(timers()).toBe(baseline);
    await sleep(100);
    expect(server.connections).toBe(1);
    await expect(c.request("settings.get", {})).rejects.toBeInstanceOf(ConnectionError);
    await expect(c.connect()).rejects.toBeInstanceOf(ConnectionError);
    await c.close(); // idempotent
  });

  it("close() while reconnecting cancels the retry timer", async () => {
    const baseline = timers();
    const server = await stub();
    const c = client(server.url, { reconnect: { initialDelayMs: 200, maxDelayMs: 200, jitter: 0 } });
    await c.connect();
    server.last().terminate();
    await waitUntil(() => c.state === "reconnecting");
    expect(timers()).toBe(baseline + 1);
    await c.close();
    expect(timers()).toBe(baseline);
    await sleep(300);
    expect(server.connections).toBe(1);
    expect(c.state).toBe("closed");
  });
});
