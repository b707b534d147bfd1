/**
 * The reducers replaying the recorded scenario (test/fixtures/scenario.json, recorded from a
 * real sidecar by test/state.sidecar.test.ts): fast, pure, no process.
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import type { SidecarEvent } from "../src/generated/protocol.js";
import {
  activePath,
  conversationFromSnapshot,
  emptyConversation,
  isStreaming,
  pathIsComplete,
  reduceConversation,
  siblingOf,
} from "../src/state/index.js";
import { checkCheckpoints, checkUsage, FIXTURE, foldConversation, type Recording } from "./fixtures/scenario.js";
import { validateEvent } from "./support/schema.js";

const recording = JSON.parse(readFileSync(FIXTURE, "utf8")) as Recording;
const { events, checkpoints, conversationId: A } = recording;
const checkpoint = (label: string) => checkpoints.find((c) => c.label === label)!;

test("the fixture is a valid, gapless event stream", () => {
  events.forEach((event, i) => {
    validateEvent(event.type, event);
    if (i > 0) expect(event.seq).toBe(events[i - 1]!.seq + 1);
  });
});

test("folding the events up to each snapshot's seq gives that snapshot", () => {
  checkCheckpoints(recording);
});

test("usage folded from usage.recorded equals usage.summary", () => {
  checkUsage(recording);
});

test("every snapshot plus the events after it gives the final state", () => {
  const final = checkpoints[checkpoints.length - 1]!.get;
  for (const { get, label } of checkpoints) {
    const state = foldConversation(A, events, Infinity, conversationFromSnapshot(get));
    expect(state.conversation, label).toEqual(final.conversation);
    if (label === "after edit") {
      // Its snapshot holds the edited branch only; the later switch goes to a branch it never saw.
      expect(pathIsComplete(state)).toBe(false);
      continue;
    }
    expect(activePath(state), label).toEqual(final.messages);
  }
});

test("events at or below the state's seq are ignored: a replayed stream changes nothing", () => {
  const state = foldConversation(A, events);
  expect(events.reduce(reduceConversation, state)).toBe(state);
  const snapshot = conversationFromSnapshot(checkpoint("after edit").get);
  for (const e of events.filter((e) => e.seq <= snapshot.seq)) expect(reduceConversation(snapshot, e)).toBe(snapshot);
});

describe("unchanged parts keep their references", () => {
  test("events about other conversations return the same state", () => {
    const state = foldConversation(A, events, checkpoint("after a branch switch and renames").get.seq);
    const others = events.filter((e) => e.seq > state.seq && !JSON.stringify(e).includes(A));
    expect(others.length).toBeGreaterThan(5);
    expect(others.reduce(reduceConversation, state)).toBe(state);
  });

  test("a delta replaces only its message and its path item", () => {
    const mid = checkpoint("mid-stream").get;
    const delta = events.find((e) => e.seq > mid.seq && e.type === "assistant.stream.delta" && e.index > 0)!;
    const before = foldConversation(A, events, delta.seq - 1);
    const after = reduceConversation(before, delta);
    expect(after).not.toBe(before);
    const [p, q] = [activePath(before), activePath(after)];
    expect(q.slice(0, -1).every((item, i) => item === p[i])).toBe(true);
    expect(q.at(-1)!.content).toBe(p.at(-1)!.content + (delta as { text: string }).text);
    expect(after.children).toBe(before.children);
    expect(activePath(after)).toBe(q); // memoized per state
  });
});

describe("branches change without a reload", () => {
  test("regenerate adds a sibling and makes it the path; siblingOf walks the arrows", () => {
    const cancel = foldConversation(A, events, checkpoint("after a cancel").get.seq);
    const regen = foldConversation(A, events, checkpoint("after regenerate").get.seq);
    const [old, now] = [activePath(cancel).at(-1)!, activePath(regen).at(-1)!];
    expect(now.id).not.toBe(old.id);
    expect(now.siblingIds).toEqual([old.id, now.id]);
    expect(siblingOf(regen, now.id, -1)).toBe(old.id);
    expect(siblingOf(regen, now.id, +1)).toBeNull();
    expect(regen.messages[old.id]!.status).toBe("cancelled"); // still held, for switching back
  });

  test("a branch switch is one conversation.updated: the path follows the new leaf", () => {
    const edited = foldConversation(A, events, checkpoint("after edit").get.seq);
    const switchEvent = events.find(
      (e) => e.seq > edited.seq && e.type === "conversation.updated" && e.conversation.id === A,
    )!;
    const switched = reduceConversation(edited, switchEvent);
    expect(pathIsComplete(switched)).toBe(true);
    expect(activePath(switched).map((m) => m.id)).toEqual(
      checkpoint("after a branch switch and renames").get.messages.map((m) => m.id),
    );
    expect(switched.messages).toBe(edited.messages);
  });

  test("a switch to a branch never seen reports an incomplete path (the store then reloads)", () => {
    const snapshot = conversationFromSnapshot(checkpoint("after edit").get); // the edited branch only
    const switchEvent = events.find(
      (e) => e.seq > snapshot.seq && e.type === "conversation.updated" && e.conversation.id === A,
    )!;
    const switched = reduceConversation(snapshot, switchEvent);
    expect(pathIsComplete(switched)).toBe(false);
    expect(pathIsComplete(snapshot)).toBe(true);
  });
});

describe("streaming", () => {
  const third = checkpoint("after a cancel").get.messages.at(-1)!;
  const streamOf = (messageId: string) =>
    events.filter((e) => "messageId" in e && e.messageId === messageId) as (SidecarEvent & { messageId: string })[];

  test("deltas append in index order; the terminal message replaces the text", () => {
    const created = foldConversation(A, events, streamOf(third.id)[0]!.seq - 1);
    let state = created;
    for (const e of streamOf(third.id)) {
      state = reduceConversation(state, e);
      if (e.type === "assistant.stream.delta") {
        expect(state.streaming[third.id]!.nextIndex).toBe(e.index + 1);
        expect(third.content.startsWith(state.messages[third.id]!.content)).toBe(true);
        expect(state.messages[third.id]!.status).toBe("streaming");
        expect(isStreaming(state)).toBe(true);
      }
    }
    expect(state.messages[third.id]).toEqual(Object.fromEntries(Object.entries(third).filter(([k]) => k !== "siblingIds")));
    expect(isStreaming(state)).toBe(false);
  });

  test("a lost delta marks a gap and keeps a correct prefix; a duplicate is dropped", () => {
    const stream = streamOf(third.id);
    const deltas = stream.filter((e) => e.type === "assistant.stream.delta");
    let state = foldConversation(A, events, stream[0]!.seq); // created and started
    expect(stream[0]!.type).toBe("assistant.stream.started");
    state = reduceConversation(state, deltas[0]!);
    const once = state;
    expect(reduceConversation(once, { ...deltas[0]!, seq: 10_000 })).toBe(once); // a repeated index adds nothing
    state = reduceConversation(state, deltas[2]!); // deltas[1] lost
    expect(state.streaming[third.id]!.gap).toBe(true);
    expect(state.messages[third.id]!.content).toBe(once.messages[third.id]!.content);
    const terminal = stream.find((e) => e.type === "assistant.stream.cancelled")!;
    state = reduceConversation(state, terminal);
    expect(state.messages[third.id]!.content).toBe(third.content);
    expect(state.streaming[third.id]).toBeUndefined();
  });

  test("thinking streams separately from the text", () => {
    const first = checkpoint("after a reply with thinking").get.messages.at(-1)!;
    let sawThinking = false;
    let state = emptyConversation(A);
    for (const e of events) {
      state = reduceConversation(state, e);
      const live = state.streaming[first.id];
      if (live?.thinkingActive) {
        sawThinking = true;
        expect(state.messages[first.id]!.thinking ?? "").toBe(live.thinking);
        expect(first.thinking!.startsWith(live.thinking)).toBe(true);
        expect(live.text).toBe("");
      }
    }
    expect(sawThinking).toBe(true);
    expect(state.messages[first.id]!.thinking).toBe(first.thinking);
  });

  test("tool calls show while they run", () => {
    const reply = checkpoint("after a tool call").get.messages.at(-1)!;
    const stream = streamOf(reply.id);
    const started = stream.find((e) => e.type === "tool.execution.started")!;
    const completed = stream.find((e) => e.type === "tool.execution.completed")!;
    const running = foldConversation(A, events, started.seq);
    expect(running.messages[reply.id]!.toolCalls).toEqual([
      expect.objectContaining({ id: reply.toolCalls[0]!.id, name: "current_time", status: "running", executor: "sidecar", step: 0 }),
    ]);
    const done = foldConversation(A, events, completed.seq);
    expect(done.messages[reply.id]!.toolCalls[0]).toMatchObject({ status: "completed", result: reply.toolCalls[0]!.result });
  });
});
