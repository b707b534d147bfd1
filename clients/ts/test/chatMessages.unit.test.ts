/**
 * The adapter to the old app's `{ type: "sent" | "received" }` list and its streaming text,
 * over the recorded scenario (no sidecar): the pure functions at every event, and the stores
 * fed event by event through a client double.
 */
import { readFileSync } from "node:fs";
import { get } from "svelte/store";
import { expect, test } from "vitest";
import type { MethodName, ParamsOf, ResultOf, SidecarEvent } from "../src/generated/protocol.js";
import {
  activePath,
  emptyConversation,
  liveReply,
  reduceConversation,
  toChatMessages,
  type ChatMessage,
} from "../src/state/index.js";
import { chatMessagesStore, type ClientLike } from "../src/svelte.js";
import type { Recording } from "./fixtures/scenario.js";
import { FIXTURE } from "./fixtures/scenario.js";

const recording = JSON.parse(readFileSync(FIXTURE, "utf8")) as Recording;
const { events, conversationId: A } = recording;

test("every message of the active branch maps to sent/received with its details", () => {
  const state = events.reduce(reduceConversation, emptyConversation(A));
  const path = activePath(state);
  const items = toChatMessages(state);
  expect(items.map((m) => m.type)).toEqual(path.map((m) => (m.role === "user" ? "sent" : "received")));
  items.forEach((item, i) => {
    const m = path[i]!;
    expect(item).toMatchObject({ id: m.id, content: m.content, status: m.status, siblingIds: m.siblingIds });
    expect(item.usage).toEqual(m.usage ?? undefined);
    expect(item.thinking).toEqual(m.thinking || undefined);
    expect(item.attachments).toEqual(m.attachments.length > 0 ? m.attachments : undefined);
    if (item.type === "sent") expect(item.usage).toBeUndefined();
  });
  expect(items.some((m) => m.thinking !== undefined)).toBe(true);
  expect(items.filter((m) => m.type === "received").every((m) => m.usage !== undefined)).toBe(true);
  // Same message, same item: a keyed {#each} redraws nothing.
  expect(toChatMessages(state)[0]).toBe(items[0]);
  expect(liveReply(state)).toBeNull();
});

test("while a reply streams it is the live reply, not a list item (unless includeLive)", () => {
  let state = emptyConversation(A);
  let sawLive = 0;
  for (const event of events) {
    state = reduceConversation(state, event);
    const live = liveReply(state);
    const path = activePath(state);
    const last = path.at(-1);
    if (live === null) {
      expect(toChatMessages(state).length).toBe(path.length);
      continue;
    }
    sawLive += 1;
    expect(live.messageId).toBe(last!.id);
    expect(live.text).toBe(last!.content);
    expect(toChatMessages(state).map((m) => m.id)).not.toContain(live.messageId);
    expect(toChatMessages(state, { includeLive: true }).at(-1)).toMatchObject({
      id: live.messageId,
      type: "received",
      status: last!.status,
    });
  }
  expect(sawLive).toBeGreaterThan(10);
});

/** Answers conversations.get with an empty conversation (seq 0), then takes events. */
class EventClient implements ClientLike<"open"> {
  readonly state = "open" as const;
  readonly listeners = new Set<(event: SidecarEvent) => void>();
  async request<M extends MethodName>(method: M, _params: ParamsOf<M>): Promise<ResultOf<M>> {
    expect(method).toBe("conversations.get");
    const created = events.find((e) => e.type === "conversation.created" && e.conversation.id === A)!;
    if (created.type !== "conversation.created") throw new Error("no conversation.created");
    return { conversation: created.conversation, messages: [], seq: created.seq } as unknown as ResultOf<M>;
  }
  onEvent(listener: (event: SidecarEvent) => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  onState() {
    return () => {};
  }
  onResync() {
    return () => {};
  }
  emit(event: SidecarEvent) {
    for (const l of [...this.listeners]) l(event);
  }
}

test("the stores publish the list and the streaming text, each only when it changes", async () => {
  const client = new EventClient();
  const chat = chatMessagesStore(client, A);
  const lists: ChatMessage[][] = [];
  const texts: string[] = [];
  const streaming: boolean[] = [];
  const stops = [
    chat.messages.subscribe((v) => lists.push(v)),
    chat.streamingText.subscribe((v) => texts.push(v)),
    chat.streaming.subscribe((v) => streaming.push(v)),
  ];
  await new Promise<void>((resolve) => {
    const stop = chat.conversation.subscribe((c) => {
      if (!c.loading) queueMicrotask(() => (stop(), resolve()));
    });
  });
  const created = events.find((e) => e.type === "conversation.created" && e.conversation.id === A)!;
  for (const event of events) if (event.seq > created.seq) client.emit(event);

  const end = events.reduce(reduceConversation, emptyConversation(A));
  expect(get(chat.messages)).toEqual(toChatMessages(end));
  expect(get(chat.streamingText)).toBe("");
  expect(get(chat.streaming)).toBe(false);
  // Deltas changed the text many times; the list changed far less often (messages that ended,
  // edits, switches), and never twice in a row to an equal list.
  const deltas = events.filter((e) => e.type === "assistant.stream.delta" && e.conversationId === A).length;
  expect(new Set(texts).size).toBeGreaterThan(deltas / 2);
  expect(lists.length).toBeLessThan(deltas);
  for (let i = 1; i < lists.length; i++) expect(lists[i]).not.toEqual(lists[i - 1]);
  expect(streaming).toContain(true);
  for (const stop of stops) stop();
  expect(client.listeners.size).toBe(0);
});
