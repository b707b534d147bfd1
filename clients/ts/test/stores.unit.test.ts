/**
 * The stores' load/event/resync loop, driven by a scripted client double (answers held until
 * the test releases them) over the recorded scenario; no sidecar. The same stores against a
 * real sidecar, and inside Svelte 4 and 5, are in stores.sidecar.test.ts / stores.svelte.test.ts.
 */
import { readFileSync } from "node:fs";
import { get, derived } from "svelte/store";
import { describe, expect, test } from "vitest";
import type { MethodName, ParamsOf, ResultOf, SidecarEvent } from "../src/generated/protocol.js";
import { activePath } from "../src/state/index.js";
import {
  connectionStore,
  conversationListStore,
  conversationStore,
  settingsStore,
  type ClientLike,
} from "../src/svelte.js";
import { FIXTURE, foldConversation, type Recording } from "./fixtures/scenario.js";

const recording = JSON.parse(readFileSync(FIXTURE, "utf8")) as Recording;
const { events, conversationId: A } = recording;
const checkpoint = (label: string) => recording.checkpoints.find((c) => c.label === label)!;

/** A client whose answers the test supplies, one request at a time. */
class ScriptedClient implements ClientLike<"open" | "reconnecting"> {
  state: "open" | "reconnecting" = "open";
  readonly asked: { method: string; params: unknown; answer(result: unknown): void; fail(error: unknown): void }[] = [];
  readonly eventListeners = new Set<(event: SidecarEvent) => void>();
  readonly stateListeners = new Set<(state: "open" | "reconnecting") => void>();
  readonly resyncListeners = new Set<(reason: string) => void | Promise<void>>();

  request<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    return new Promise((resolve, reject) => {
      this.asked.push({ method, params, answer: resolve as (r: unknown) => void, fail: reject });
    });
  }
  onEvent(listener: (event: SidecarEvent) => void) {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }
  onState(listener: (state: "open" | "reconnecting") => void) {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }
  onResync(listener: (reason: string) => void | Promise<void>) {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }
  emit(...list: SidecarEvent[]) {
    for (const event of list) for (const l of [...this.eventListeners]) l(event);
  }
  setState(state: "open" | "reconnecting") {
    this.state = state;
    for (const l of this.stateListeners) l(state);
  }
  /** Answers the oldest unanswered request (checking its method), then lets promises settle. */
  async answer(method: string, result: unknown) {
    const request = this.asked.shift();
    expect(request?.method).toBe(method);
    request!.answer(result);
    await flush();
  }
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));
const between = (from: number, to: number) => events.filter((e) => e.seq > from && e.seq <= to);

describe("conversationStore", () => {
  test("follows the store contract: run at once, on change, and not after unsubscribing", async () => {
    const client = new ScriptedClient();
    const store = conversationStore(client, A);
    const seen: unknown[] = [];
    const stop = store.subscribe((v) => seen.push(v));
    expect(seen).toHaveLength(1); // synchronously, with the loading value
    expect(seen[0]).toMatchObject({ loading: true, error: null, path: [] });
    expect(client.asked.map((r) => [r.method, r.params])).toEqual([["conversations.get", { conversationId: A }]]);
    stop();
    expect(client.eventListeners.size).toBe(0);
    expect(client.resyncListeners.size).toBe(0);
    await client.answer("conversations.get", checkpoint("after a cancel").get); // late: lands nowhere
    expect(seen).toHaveLength(1);
  });

  test("events that arrive while the snapshot loads are folded onto it, those it reflects are dropped", async () => {
    const client = new ScriptedClient();
    const store = conversationStore(client, A);
    const stop = store.subscribe(() => {});
    const snap = checkpoint("after a tool call").get;
    const target = checkpoint("after a cancel").get;
    // The sidecar sent the snapshot's own events and later ones before its answer.
    client.emit(...between(snap.seq - 5, target.seq));
    await client.answer("conversations.get", snap);
    const value = get(store);
    expect(value.loading).toBe(false);
    expect(value.path).toEqual(target.messages);
    expect(value.seq).toBe(foldConversation(A, events, target.seq).seq); // the last event about A
    stop();
  });

  test("keeps references: an unrelated event publishes nothing", async () => {
    const client = new ScriptedClient();
    const store = conversationStore(client, A);
    const values: unknown[] = [];
    const stop = store.subscribe((v) => values.push(v));
    const snap = checkpoint("after a branch switch and renames").get;
    await client.answer("conversations.get", snap);
    const count = values.length;
    const others = between(snap.seq, Infinity).filter((e) => !JSON.stringify(e).includes(A));
    expect(others.length).toBeGreaterThan(3);
    client.emit(...others);
    expect(values).toHaveLength(count);
    stop();
  });

  test("reloads on resync, and by itself when a switch reaches a branch it never saw", async () => {
    const client = new ScriptedClient();
    const store = conversationStore(client, A);
    const stop = store.subscribe(() => {});
    const edited = checkpoint("after edit").get;
    await client.answer("conversations.get", edited);
    const switchSeq = checkpoint("after a branch switch and renames").get.seq;
    client.emit(...between(edited.seq, switchSeq));
    expect(client.asked.map((r) => r.method)).toEqual(["conversations.get"]); // path incomplete: reload asked
    expect(get(store).loading).toBe(true);
    await client.answer("conversations.get", checkpoint("after a branch switch and renames").get);
    expect(get(store).path).toEqual(checkpoint("after a branch switch and renames").get.messages);

    for (const listener of client.resyncListeners) void listener("resync-required");
    expect(client.asked.map((r) => r.method)).toEqual(["conversations.get"]);
    const end = checkpoint("at the end").get;
    await client.answer("conversations.get", end);
    expect(get(store).path).toEqual(end.messages);
    stop();
  });

  test("a failed load shows its error; refresh() recovers", async () => {
    const client = new ScriptedClient();
    const store = conversationStore(client, A);
    const stop = store.subscribe(() => {});
    const failure = Object.assign(new Error("conversation not found"), { reason: "NOT_FOUND" });
    client.asked.shift()!.fail(failure);
    await flush();
    expect(get(store)).toMatchObject({ loading: false, error: failure });
    const again = store.refresh();
    await client.answer("conversations.get", checkpoint("at the end").get);
    await again;
    expect(get(store)).toMatchObject({ loading: false, error: null });
    stop();
  });

  test("works with svelte/store's derived", async () => {
    const client = new ScriptedClient();
    const store = conversationStore(client, A);
    const lastText = derived(store, ($c) => $c.path.at(-1)?.content ?? "");
    const texts: string[] = [];
    const stop = lastText.subscribe((t) => texts.push(t));
    const cancel = checkpoint("after a cancel").get;
    await client.answer("conversations.get", checkpoint("after a tool call").get);
    client.emit(...between(checkpoint("after a tool call").get.seq, cancel.seq));
    expect(texts.at(-1)).toBe(cancel.messages.at(-1)!.content);
    // Each delta showed a longer prefix of the final text.
    const streamed = texts.filter((t) => cancel.messages.at(-1)!.content.startsWith(t) && t.length > 0);
    expect(streamed.length).toBeGreaterThan(3);
    expect(activePath(foldConversation(A, events, cancel.seq))).toEqual(get(store).path);
    stop();
  });
});

test("conversationListStore loads a page, follows events and loads more", async () => {
  const client = new ScriptedClient();
  const store = conversationListStore(client, { limit: 1 });
  const stop = store.subscribe(() => {});
  expect(client.asked[0]!.params).toEqual({ limit: 1 });
  const list = checkpoint("after a branch switch and renames").list;
  await client.answer("conversations.list", { ...list, nextCursor: "next" });
  expect(get(store).items).toEqual(list.items);
  const more = store.loadMore();
  expect(client.asked[0]!.params).toEqual({ limit: 1, cursor: "next" });
  await client.answer("conversations.list", { seq: list.seq, items: [], nextCursor: null });
  await more;
  expect(get(store).nextCursor).toBeNull();
  client.emit(...between(list.seq, Infinity));
  expect(get(store).items).toEqual(checkpoint("at the end").list.items);
  stop();
});

test("settingsStore: a snapshot answer never undoes a settings.updated that came before it", async () => {
  const client = new ScriptedClient();
  const store = settingsStore(client);
  const stop = store.subscribe(() => {});
  const updates = events.filter((e) => e.type === "settings.updated");
  client.emit(updates[0]!);
  await client.answer("settings.get", { settings: (updates[0] as { settings: unknown }).settings });
  expect(get(store).settings).toEqual((updates[0] as { settings: unknown }).settings);
  client.emit(updates[1]!);
  expect(get(store).settings?.lastModelId).toBe("m1");
  stop();
});

test("connectionStore mirrors the client's state", () => {
  const client = new ScriptedClient();
  const store = connectionStore(client);
  const states: string[] = [];
  const stop = store.subscribe((s) => states.push(s));
  client.setState("reconnecting");
  client.setState("open");
  stop();
  client.setState("reconnecting");
  expect(states).toEqual(["open", "reconnecting", "open"]);
  expect(client.stateListeners.size).toBe(0);
});
