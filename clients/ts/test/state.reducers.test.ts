/**
 * Reducer edge cases the recorded scenario does not reach: paging, deletions, denied
 * tools, usage scopes, settings. Pure and fast; events are built to the generated types.
 */
import { describe, expect, test } from "vitest";
import type {
  Conversation,
  Message,
  SidecarEvent,
  UsageRecord,
} from "../src/generated/protocol.js";
import {
  activePath,
  appendConversationPage,
  conversationListFromSnapshot,
  emptyConversation,
  emptySettings,
  emptyUsage,
  pathIsComplete,
  reduceConversation,
  reduceConversationList,
  reduceSettings,
  reduceUsage,
  type ConversationState,
} from "../src/state/index.js";

let seq = 0;
const ts = "2026-01-01T00:00:00.000Z";
const at = (n: number) => `2026-01-01T00:00:${String(n).padStart(2, "0")}.000Z`;

function conversation(
  id: string,
  updated: number,
  extra: Partial<Conversation> = {},
): Conversation {
  return {
    id,
    title: id,
    titleSource: "user",
    modelId: "m1",
    systemPrompt: null,
    settings: {
      maxOutputTokens: null,
      contextWindow: null,
      systemPromptId: null,
      temperature: null,
      topP: null,
      promptCaching: true,
      effort: "auto",
    },
    activeLeafId: null,
    createdAt: at(0),
    updatedAt: at(updated),
    ...extra,
  };
}

function message(
  id: string,
  parentId: string | null,
  extra: Partial<Message> = {},
): Message {
  return {
    id,
    conversationId: "c",
    parentId,
    role: "user",
    content: id,
    status: "complete",
    attachments: [],
    error: null,
    modelId: null,
    provider: null,
    steps: [],
    thinking: null,
    toolCalls: [],
    usage: null,
    createdAt: ts,
    updatedAt: ts,
    finishReason: null,
    ...extra,
  };
}

/** Stamps the next seq on an event. */
function ev<E extends { type: SidecarEvent["type"] }>(event: E): SidecarEvent {
  return { ...event, seq: ++seq, ts } as unknown as SidecarEvent;
}

describe("conversation list", () => {
  const page = conversationListFromSnapshot({
    seq: 0,
    items: [conversation("c3", 30), conversation("c2", 20)],
    nextCursor: "more",
  });

  test("an update moves a conversation to its place, newest first", () => {
    const c2 = conversation("c2", 40);
    const state = reduceConversationList(
      page,
      ev({ type: "conversation.updated", conversation: c2 }),
    );
    expect(state.items.map((c) => c.id)).toEqual(["c2", "c3"]);
    expect(state.items[1]).toBe(page.items[0]); // untouched items keep their reference
  });

  test("while pages are missing, an old conversation updated beyond them stays out; a newer one joins", () => {
    const old = reduceConversationList(
      page,
      ev({ type: "conversation.updated", conversation: conversation("c0", 5) }),
    );
    expect(old.items.map((c) => c.id)).toEqual(["c3", "c2"]);
    const revived = reduceConversationList(
      page,
      ev({
        type: "conversation.updated",
        conversation: conversation("c0", 50),
      }),
    );
    expect(revived.items.map((c) => c.id)).toEqual(["c0", "c3", "c2"]);
  });

  test("ties on updatedAt order by id, like the server", () => {
    const state = reduceConversationList(
      page,
      ev({
        type: "conversation.created",
        conversation: conversation("c4", 30),
      }),
    );
    expect(state.items.map((c) => c.id)).toEqual(["c4", "c3", "c2"]);
  });

  test("deleted conversations leave; unrelated events keep the same state", () => {
    const state = reduceConversationList(
      page,
      ev({ type: "conversation.deleted", conversationId: "c3" }),
    );
    expect(state.items.map((c) => c.id)).toEqual(["c2"]);
    expect(
      reduceConversationList(
        state,
        ev({ type: "conversation.deleted", conversationId: "zz" }),
      ),
    ).toBe(state);
    expect(
      reduceConversationList(
        state,
        ev({ type: "message.deleted", conversationId: "c2", messageId: "m" }),
      ),
    ).toBe(state);
  });

  test("the next page appends, without duplicates", () => {
    const moved = reduceConversationList(
      page,
      ev({
        type: "conversation.updated",
        conversation: conversation("c1", 60),
      }),
    );
    const state = appendConversationPage(moved, {
      seq: 0,
      items: [conversation("c1", 10), conversation("c0", 5)],
      nextCursor: null,
    });
    expect(state.items.map((c) => c.id)).toEqual(["c1", "c3", "c2", "c0"]);
    expect(state.nextCursor).toBeNull();
  });
});

describe("conversation", () => {
  function tree(): ConversationState {
    // u1 -> a1 -> u2 -> a2, plus a sibling a1b of a1 (active)
    let state = emptyConversation("c");
    for (const m of [
      message("u1", null),
      message("a1", "u1", { role: "assistant" }),
      message("u2", "a1"),
      message("a2", "u2", { role: "assistant" }),
      message("a1b", "u1", { role: "assistant" }),
    ]) {
      state = reduceConversation(
        state,
        ev({ type: "message.created", message: m }),
      );
    }
    return reduceConversation(
      state,
      ev({
        type: "conversation.created",
        conversation: conversation("c", 1, { activeLeafId: "a1b" }),
      }),
    );
  }

  test("message.deleted removes the message with everything under it", () => {
    const state = reduceConversation(
      tree(),
      ev({ type: "message.deleted", conversationId: "c", messageId: "a1" }),
    );
    expect(Object.keys(state.messages).sort()).toEqual(["a1b", "u1"]);
    expect(state.children).toEqual({ "": ["u1"], u1: ["a1b"] });
    expect(activePath(state).map((m) => [m.id, m.siblingIds])).toEqual([
      ["u1", ["u1"]],
      ["a1b", ["a1b"]],
    ]);
  });

  test("a path through a deleted message is incomplete until the conversation moves on", () => {
    const base = reduceConversation(
      tree(),
      ev({
        type: "conversation.updated",
        conversation: conversation("c", 2, { activeLeafId: "a2" }),
      }),
    );
    const state = reduceConversation(
      base,
      ev({ type: "message.deleted", conversationId: "c", messageId: "u2" }),
    );
    expect(pathIsComplete(state)).toBe(false);
  });

  test("conversation.deleted empties the state and marks it", () => {
    const state = reduceConversation(
      tree(),
      ev({ type: "conversation.deleted", conversationId: "c" }),
    );
    expect(state).toMatchObject({
      deleted: true,
      conversation: null,
      messages: {},
      children: {},
      streaming: {},
    });
    expect(activePath(state)).toEqual([]);
  });

  test("a tool call that fails straight from `proposed` was denied; a started one that fails failed", () => {
    let state = reduceConversation(
      tree(),
      ev({
        type: "message.created",
        message: message("a3", "a2", { role: "assistant", status: "pending" }),
      }),
    );
    const ids = { conversationId: "c", messageId: "a3" };
    state = reduceConversation(
      state,
      ev({
        type: "assistant.stream.started",
        ...ids,
        modelId: "m1",
        provider: "p",
        omittedMessages: 2,
      }),
    );
    expect(state.streaming.a3).toMatchObject({
      status: "streaming",
      omittedMessages: 2,
    });
    state = reduceConversation(
      state,
      ev({
        type: "tool.execution.proposed",
        ...ids,
        callId: "t1",
        name: "rm",
        arguments: { path: "/" },
      }),
    );
    expect(state.messages.a3!.toolCalls[0]).toMatchObject({
      id: "t1",
      status: "proposed",
      arguments: { path: "/" },
    });
    state = reduceConversation(
      state,
      ev({
        type: "tool.execution.failed",
        ...ids,
        callId: "t1",
        error: "denied",
      }),
    );
    state = reduceConversation(
      state,
      ev({ type: "assistant.stream.delta", ...ids, index: 0, text: "OK, " }),
    );
    state = reduceConversation(
      state,
      ev({
        type: "tool.execution.started",
        ...ids,
        callId: "t2",
        name: "ls",
        arguments: {},
        executor: "client",
      }),
    );
    state = reduceConversation(
      state,
      ev({
        type: "tool.execution.failed",
        ...ids,
        callId: "t2",
        error: "boom",
      }),
    );
    expect(
      state.messages.a3!.toolCalls.map((c) => [
        c.id,
        c.status,
        c.error,
        c.step,
      ]),
    ).toEqual([
      ["t1", "denied", "denied", 0],
      ["t2", "failed", "boom", 1], // text after the first step's calls starts step 1
    ]);
  });

  test("retrying is shown until text arrives", () => {
    let state = reduceConversation(
      tree(),
      ev({
        type: "message.created",
        message: message("a3", "a2", { role: "assistant", status: "pending" }),
      }),
    );
    const ids = { conversationId: "c", messageId: "a3" };
    state = reduceConversation(
      state,
      ev({
        type: "assistant.stream.retrying",
        ...ids,
        attempt: 1,
        delayMs: 500,
        reason: "rate_limited",
      }),
    );
    expect(state.streaming.a3!.retry).toEqual({
      attempt: 1,
      delayMs: 500,
      reason: "rate_limited",
    });
    state = reduceConversation(
      state,
      ev({
        type: "assistant.stream.started",
        ...ids,
        modelId: "m1",
        provider: "p",
        omittedMessages: 0,
      }),
    );
    state = reduceConversation(
      state,
      ev({ type: "assistant.stream.delta", ...ids, index: 0, text: "Hi" }),
    );
    expect(state.streaming.a3!.retry).toBeNull();
    const failed = message("a3", "a2", {
      role: "assistant",
      status: "failed",
      content: "Hi",
      error: {
        code: "connection",
        message: "lost",
        retryable: true,
        httpStatus: null,
      },
    });
    state = reduceConversation(
      state,
      ev({
        type: "assistant.stream.failed",
        ...ids,
        error: failed.error!,
        message: failed,
      }),
    );
    expect(state.streaming).toEqual({});
    expect(state.messages.a3).toBe(failed);
    // The message.updated that follows repeats it: nothing changes.
    expect(
      reduceConversation(
        state,
        ev({ type: "message.updated", message: { ...failed } }),
      ),
    ).toBe(state);
  });
});

describe("usage", () => {
  const record = (
    conversationId: string | null,
    costUsd: number | null,
    extra: Partial<UsageRecord> = {},
  ): UsageRecord => ({
    id: `u${seq}`,
    conversationId,
    messageId: conversationId === null ? null : `${conversationId}-m`,
    modelId: "m1",
    provider: "p",
    kind: "chat",
    inputTokens: 10,
    outputTokens: 5,
    reasoningTokens: 1,
    cacheReadTokens: 2,
    cacheWriteTokens: 0,
    costUsd,
    createdAt: "2026-02-03T04:05:06.789Z",
    ...extra,
  });

  test("sums by conversation, model, day and message; cost stays null until a priced call", () => {
    let state = reduceUsage(
      emptyUsage(),
      ev({ type: "usage.recorded", usage: record("a", null) }),
    );
    expect(state.total.costUsd).toBeNull();
    state = reduceUsage(
      state,
      ev({ type: "usage.recorded", usage: record("a", 0.1) }),
    );
    state = reduceUsage(
      state,
      ev({
        type: "usage.recorded",
        usage: record("b", 0.2, { kind: "title", messageId: null }),
      }),
    );
    state = reduceUsage(
      state,
      ev({ type: "usage.recorded", usage: record(null, 0.3) }),
    );
    expect(state.total).toEqual({
      calls: 4,
      inputTokens: 40,
      outputTokens: 20,
      reasoningTokens: 4,
      cacheReadTokens: 8,
      cacheWriteTokens: 0,
      costUsd: 0.6, // not 0.6000000000000001: rounded like the sidecar's sums
    });
    expect(Object.keys(state.byConversation)).toEqual(["a", "b"]);
    expect(state.byConversation.a!.calls).toBe(2);
    expect(state.byMessage).toEqual({
      "a-m": expect.objectContaining({ calls: 2, costUsd: 0.1 }),
    });
    expect(state.byModel.m1!.calls).toBe(4);
    expect(state.byDay["2026-02-03"]!.calls).toBe(4);
  });

  test("a conversation scope ignores other conversations' calls", () => {
    const scoped = emptyUsage({ conversationId: "a" });
    expect(
      reduceUsage(
        scoped,
        ev({ type: "usage.recorded", usage: record("b", 1) }),
      ),
    ).toBe(scoped);
    expect(
      reduceUsage(scoped, ev({ type: "usage.recorded", usage: record("a", 1) }))
        .total.calls,
    ).toBe(1);
  });
});

test("settings: the newest settings.updated wins; older seqs are ignored", () => {
  const settings = {
    defaultModelId: null,
    defaultSystemPrompt: "You are a helpful AI assistant.",
    lastModelId: "m1",
    preferences: {},
    providerRoutes: { openai: "sidecar" as const },
    titleModelId: null,
    toolFolders: [],
  };
  const event = ev({ type: "settings.updated", settings });
  const state = reduceSettings(emptySettings(), event);
  expect(state.settings?.lastModelId).toBe("m1");
  expect(reduceSettings(state, event)).toBe(state);
});
