/**
 * The connection breaking under a live stream, against a real sidecar: the client
 * reconnects, resumes with `since`, and listeners see every event once and in order; a
 * restarted sidecar (new session) or events the sidecar no longer holds end in `onResync`;
 * a lost frame is recovered by a replay on the same socket.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  ConnectionError,
  SidecarClient,
  type ConnectionState,
  type Message,
  type MessageUpdated,
  type ResyncReason,
  type SidecarEvent,
} from "../src/index.js";
import { nextEvent, setupChat, sleep, waitUntil } from "./support/chat.js";
import { startFake, startSidecar, type FakeProcess, type SidecarEnv } from "./support/env.js";
import { createWire, type Frame, type Wire } from "./support/wire.js";

interface Harness {
  client: SidecarClient;
  wire: Wire;
  events: SidecarEvent[];
  states: ConnectionState[];
  resyncs: ResyncReason[];
}

const open: SidecarClient[] = [];

function connectClient(env: SidecarEnv): Harness {
  const wire = createWire();
  const client = new SidecarClient({
    url: env.url,
    token: env.token,
    WebSocket: wire.WebSocket,
    reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    requestTimeoutMs: 10_000,
  });
  open.push(client);
  const harness: Harness = { client, wire, events: [], states: [], resyncs: [] };
  client.onEvent((event) => harness.events.push(event));
  client.onState((state) => harness.states.push(state));
  client.onResync((reason) => {
    harness.resyncs.push(reason);
  });
  return harness;
}

/** Each seq once, each one more than the one before, from the first delivered on. */
function expectContiguous(events: SidecarEvent[]): void {
  const seqs = events.map((e) => e.seq);
  expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
}

/** Deltas of one message: indexes exactly 0..n-1, once each; returns the joined text. */
function deltaText(events: SidecarEvent[], messageId: string): string {
  const deltas = events.flatMap((e) =>
    e.type === "assistant.stream.delta" && e.messageId === messageId ? [e] : [],
  );
  expect(deltas.map((d) => d.index)).toEqual(deltas.map((_, i) => i));
  return deltas.map((d) => d.text).join("");
}

function responseTo(wire: Wire, method: string) {
  return (frame: Frame) =>
    "id" in frame && wire.outbound.some((f) => f.id === frame.id && f.method === method);
}

/** Kills the socket as the answer to `method` arrives; returns a getter for that lost result. */
function loseAnswerTo(h: Harness, method: string): () => unknown {
  let lost: unknown;
  h.wire.interceptOnce((frame, socket) => {
    if (!responseTo(h.wire, method)(frame)) return false;
    lost = frame.result;
    socket.kill();
    return true;
  });
  return () => lost;
}

/** `method` went out twice (before and after the reconnect) with one generated clientRequestId. */
function expectSentTwiceWithOneId(h: Harness, method: string): void {
  const sent = h.wire.outbound.filter((f) => f.method === method);
  expect(sent).toHaveLength(2);
  const ids = sent.map((f) => (f.params as { clientRequestId: string }).clientRequestId);
  expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
  expect(ids[1]).toBe(ids[0]);
}

/**
 * The assistant message once complete, learnt the way a store learns it after a resync:
 * from a fresh snapshot, or else from a `message.updated` after the snapshot's seq. How much
 * of the stream ended before the resync depends on the machine's speed; events at or below
 * the live feed's start are only in the snapshot. Reads `h.events` (recorded since connect),
 * so an event delivered before this call is not missed.
 */
async function completedAfterResync(h: Harness, conversationId: string, messageId: string): Promise<Message> {
  const snapshot = await h.client.request("conversations.get", { conversationId });
  const stored = snapshot.messages.find((m) => m.id === messageId);
  if (stored?.status === "complete") return stored;
  const isDone = (e: SidecarEvent): e is MessageUpdated =>
    e.type === "message.updated" && e.seq > snapshot.seq && e.message.id === messageId && e.message.status === "complete";
  await waitUntil(() => h.events.some(isDone), 15_000, `message.updated (complete) after seq ${snapshot.seq}`);
  return h.events.find(isDone)!.message;
}

function expectCleanWire(wire: Wire): void {
  expect(wire.violations).toEqual([]);
  expect(wire.validatedCount).toBeGreaterThan(0);
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((client) => client.close()));
});

describe("with the default replay buffer", () => {
  let env: SidecarEnv;
  let fake: FakeProcess;
  beforeAll(async () => {
    [env, fake] = await Promise.all([startSidecar(), startFake()]);
  });
  afterAll(async () => {
    await Promise.all([env?.stop(), fake?.stop()]);
  });

  it("resumes a stream after the connection drops: no delta lost or repeated", async () => {
    const h = connectClient(env);
    await h.client.connect();
    const { conversationId } = await setupChat(h.client, fake, "drop");
    const text = Array.from({ length: 80 }, (_, i) => `w${i} `).join("");
    await fake.script({ text, chunk_size: 4, rate: 80 });

    const sent = await h.client.request("chat.send", { conversationId, content: "stream" });
    const completed = nextEvent(h.client, "assistant.stream.completed", (e) => e.messageId === sent.assistantMessageId);
    await waitUntil(() => h.events.filter((e) => e.type === "assistant.stream.delta").length >= 10);
    const seqAtDrop = h.client.lastSeq;
    h.wire.refuse = true; // the sidecar seems gone for a while: events pile up meanwhile
    h.wire.current().kill();
    await waitUntil(() => h.client.state === "reconnecting");
    await sleep(300);
    h.wire.refuse = false;

    const done = await completed;
    expect(h.client.state).toBe("open");
    const streamed = deltaText(h.events, sent.assistantMessageId);
    expect(streamed).toBe(text);
    expect(done.message.content).toBe(text);
    const stored = await h.client.request("conversations.get", { conversationId });
    expect(stored.messages.at(-1)?.content).toBe(text);

    expectContiguous(h.events);
    expect(h.resyncs).toEqual([]);
    const resume = h.wire.outbound.filter((f) => f.method === "events.subscribe").at(-1)!;
    expect(resume.params).toEqual({ since: seqAtDrop });
    const answer = h.wire.inbound.find((f) => f.id === resume.id) as { result: { replayed: number } };
    expect(answer.result.replayed).toBeGreaterThan(0);
    expect(h.states).toEqual(expect.arrayContaining(["connecting", "open", "reconnecting"]));
    expect(h.states.at(-1)).toBe("open");
    expectCleanWire(h.wire);
  });

  it("re-sends chat.send with the same clientRequestId when the answer was lost", async () => {
    const h = connectClient(env);
    await h.client.connect();
    const { conversationId } = await setupChat(h.client, fake, "retry");
    const lost = loseAnswerTo(h, "chat.send");

    const result = await h.client.request("chat.send", { conversationId, content: "exactly once" });
    expect(result).toEqual(lost());
    expectSentTwiceWithOneId(h, "chat.send");
    expect(h.wire.sockets).toHaveLength(2);

    await waitUntil(() =>
      h.events.some((e) => e.type === "assistant.stream.completed" && e.messageId === result.assistantMessageId),
    );
    const tree = await h.client.request("conversations.tree", { conversationId });
    expect(tree.messages.filter((m) => m.role === "user")).toHaveLength(1);
    expect(deltaText(h.events, result.assistantMessageId)).toBe("You said: exactly once");
    expectCleanWire(h.wire);
  });

  it("re-sends chat.record with the same clientRequestId: the legacy turn is recorded once", async () => {
    const h = connectClient(env);
    await h.client.connect();
    const { conversationId, modelId } = await setupChat(h.client, fake, "record");
    const lost = loseAnswerTo(h, "chat.record");

    const result = await h.client.request("chat.record", {
      conversationId,
      content: "asked the old way",
      reply: { content: "answered, then stopped", modelId, status: "cancelled" },
    });
    expect(result).toEqual(lost());
    expectSentTwiceWithOneId(h, "chat.record");
    const shown = await h.client.request("conversations.get", { conversationId });
    expect(shown.messages.map((m) => [m.id, m.content, m.status])).toEqual([
      [result.userMessageId, "asked the old way", "complete"],
      [result.assistantMessageId, "answered, then stopped", "cancelled"],
    ]);
    expectCleanWire(h.wire);
  });

  it("fails a non-repeatable request in flight with ConnectionError, and reads after it succeed", async () => {
    const h = connectClient(env);
    await h.client.connect();
    h.wire.interceptOnce((frame, socket) => {
      if (!responseTo(h.wire, "conversations.create")(frame)) return false;
      socket.kill();
      return true;
    });
    const error = await h.client.request("conversations.create", { title: "maybe" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(/may or may not have taken effect/);
    const list = await h.client.request("conversations.list", { query: "maybe" });
    expect(list.items.map((c) => c.title)).toEqual(["maybe"]); // it had taken effect
    expect(h.client.state).toBe("open");
  });

  it("repairs a lost event frame with a replay on the same socket", async () => {
    const h = connectClient(env);
    await h.client.connect();
    const { conversationId } = await setupChat(h.client, fake, "gap");
    await fake.script({ chunks: ["one ", "two ", "three ", "four ", "five"], rate: 50 });
    let dropped = -1;
    h.wire.interceptOnce((frame) => {
      const params = frame.params as { type?: string; index?: number; seq: number } | undefined;
      // the first delta: there is always one, however many reads the chunks took
      if (params?.type !== "assistant.stream.delta" || params.index !== 0) return false;
      dropped = params.seq;
      return true;
    });
    const sent = await h.client.request("chat.send", { conversationId, content: "count" });
    const done = await nextEvent(h.client, "assistant.stream.completed", (e) => e.messageId === sent.assistantMessageId);

    expect(dropped).toBeGreaterThan(0);
    expect(deltaText(h.events, sent.assistantMessageId)).toBe("one two three four five");
    expect(done.message.content).toBe("one two three four five");
    expectContiguous(h.events);
    const recovery = h.wire.outbound.filter((f) => f.method === "events.subscribe").at(-1)!;
    expect(recovery.params).toEqual({ since: dropped - 1 });
    expect(h.wire.sockets).toHaveLength(1);
    expect(h.resyncs).toEqual([]);
    expectCleanWire(h.wire);
  });

  it("a restarted sidecar is a new session: onResync('session-changed'), requests wait and go on", async () => {
    const h = connectClient(env);
    await h.client.connect();
    await setupChat(h.client, fake, "before restart");
    const before = h.client.sessionId;
    expect(h.client.lastSeq).toBeGreaterThan(0);

    const restarting = env.restart();
    await waitUntil(() => h.client.state === "reconnecting");
    const waiting = h.client.request("conversations.list", { query: "before restart" });
    await restarting;
    const list = await waiting;
    expect(list.items.map((c) => c.title)).toEqual(["before restart"]);

    await waitUntil(() => h.resyncs.length > 0);
    expect(h.resyncs).toEqual(["session-changed"]);
    expect(h.client.sessionId).not.toBe(before);
    expect(h.client.server?.sessionId).toBe(h.client.sessionId);
    const resubscribe = h.wire.outbound.filter((f) => f.method === "events.subscribe").at(-1)!;
    expect(resubscribe.params).toEqual({});
    expect(h.client.lastSeq).toBeLessThanOrEqual(list.seq);

    const created = await h.client.request("conversations.create", { title: "after restart" });
    await waitUntil(() => h.client.lastSeq >= created.seq);
    expect(h.events.at(-1)).toMatchObject({ type: "conversation.created", seq: created.seq });
    expectCleanWire(h.wire);
  });
});

describe("with a replay buffer of one event", () => {
  let env: SidecarEnv;
  let fake: FakeProcess;
  beforeAll(async () => {
    [env, fake] = await Promise.all([startSidecar({ extraArgs: ["--replay-buffer", "1"] }), startFake()]);
  });
  afterAll(async () => {
    await Promise.all([env?.stop(), fake?.stop()]);
  });

  /**
   * Delta 1 of a six-letter reply is lost and the buffer no longer holds it: resync, then
   * the reply is whole and the feed live. `rate` null: unpaced, so the stream has ended
   * before the client resynced (what a busy machine does to a paced one); its end is then
   * only in the snapshot.
   */
  async function lostFrameBeyondTheBuffer(rate: number | null): Promise<void> {
    const h = connectClient(env);
    await h.client.connect();
    const { conversationId } = await setupChat(h.client, fake, "small buffer");
    await fake.script({ chunks: ["a", "b", "c", "d", "e", "f"], rate });
    let dropped = -1;
    h.wire.interceptOnce((frame) => {
      const params = frame.params as { type?: string; index?: number; seq: number } | undefined;
      // the first delta: unpaced, the six letters may all come as that one (one per read)
      if (params?.type !== "assistant.stream.delta" || params.index !== 0) return false;
      dropped = params.seq;
      return true;
    });
    const sent = await h.client.request("chat.send", { conversationId, content: "letters" });
    await waitUntil(() => h.resyncs.length > 0);
    expect(h.resyncs).toEqual(["resync-required"]);

    // what a store does on resync: reload the snapshot, then apply events after its seq
    const done = await completedAfterResync(h, conversationId, sent.assistantMessageId);
    expect(done.content).toBe("abcdef");
    const snapshot = await h.client.request("conversations.get", { conversationId });
    expect(snapshot.messages.at(-1)?.content).toBe("abcdef");

    // the feed is live whenever the stream ended: an event made now is delivered
    const created = await h.client.request("conversations.create", { title: "after resync" });
    await waitUntil(() => h.client.lastSeq >= created.seq);
    expect(h.events.find((e) => e.seq === created.seq)).toMatchObject({ type: "conversation.created" });

    const subscribes = h.wire.outbound.filter((f) => f.method === "events.subscribe").map((f) => f.params);
    expect(subscribes.slice(-2)).toEqual([{ since: dropped - 1 }, {}]);
    expect(h.events.some((e) => e.seq === dropped)).toBe(false);
    expectContiguous(h.events.filter((e) => e.seq > dropped));
    expect(h.wire.sockets).toHaveLength(1);
    expectCleanWire(h.wire);
  }

  it("a lost frame the sidecar no longer holds ends in onResync('resync-required') and a live feed", async () => {
    await lostFrameBeyondTheBuffer(30);
  });

  it("a lost frame the sidecar no longer holds, in a stream that ends before the resync: the snapshot has the end", async () => {
    await lostFrameBeyondTheBuffer(null);
  });

  it("resuming after a drop when the events are gone ends in onResync('resync-required')", async () => {
    const h = connectClient(env);
    await h.client.connect();
    const other = connectClient(env);
    await other.client.connect();
    const seqAtDrop = h.client.lastSeq;

    h.wire.refuse = true;
    h.wire.current().kill();
    await waitUntil(() => h.client.state === "reconnecting");
    await other.client.request("conversations.create", { title: "while away 1" });
    await other.client.request("conversations.create", { title: "while away 2" });
    h.wire.refuse = false;

    await waitUntil(() => h.resyncs.length > 0);
    expect(h.resyncs).toEqual(["resync-required"]);
    expect(h.client.state).toBe("open");
    const subscribes = h.wire.outbound.filter((f) => f.method === "events.subscribe").map((f) => f.params);
    expect(subscribes.slice(-2)).toEqual([{ since: seqAtDrop }, {}]);
    expect(h.client.lastSeq).toBe(other.client.lastSeq);
    expect(h.events.map((e) => e.seq).filter((s) => s > seqAtDrop)).toEqual([]);
    expectCleanWire(h.wire);
  });
});
