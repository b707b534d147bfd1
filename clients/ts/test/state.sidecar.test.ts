/**
 * The reducers against a real sidecar: a scripted scenario (thinking, a tool call, a
 * cancelled stream, regenerate, edit, a branch switch, renames, a generated title, a
 * deletion), every event recorded and schema-checked; folding the events up to each
 * snapshot's seq must give exactly that snapshot, and a snapshot plus the later events
 * must give the final one.
 *
 * `RECORD_FIXTURES=1 npx vitest run test/state.sidecar.test.ts` also rewrites
 * test/fixtures/scenario.json, which test/state.replay.test.ts replays without a sidecar.
 */
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { SidecarEvent } from "../src/generated/protocol.js";
import { activePath, conversationFromSnapshot, isStreaming } from "../src/state/index.js";
import { ended, RawClient } from "./fixtures/rawClient.js";
import { checkCheckpoints, checkUsage, FIXTURE, foldConversation, type Recording } from "./fixtures/scenario.js";
import { startFake, startSidecar, type FakeProcess, type SidecarEnv } from "./support/env.js";

let sidecar: SidecarEnv;
let fake: FakeProcess;
let client: RawClient;

beforeAll(async () => {
  [sidecar, fake] = await Promise.all([startSidecar(), startFake()]);
  client = await RawClient.connect(sidecar.url, sidecar.token, 0);
});

afterAll(async () => {
  await client?.close();
  await Promise.all([sidecar?.stop(), fake?.stop()]);
});

test("folding the recorded events gives the sidecar's snapshots", { timeout: 60_000 }, async () => {
  const events = client.events;
  const checkpoints: Recording["checkpoints"] = [];
  const check = async (label: string, conversationId: string, midStream = false) => {
    const [get, list] = await Promise.all([
      client.request("conversations.get", { conversationId }),
      client.request("conversations.list", {}),
    ]);
    checkpoints.push({ label, get, list, midStream });
  };
  const turn = async (assistantMessageId: string) => {
    const from = events.length;
    return (await client.waitFor(ended(assistantMessageId), Math.max(0, from - 200))) as SidecarEvent & {
      type: "message.updated";
    };
  };

  await client.request("providers.configure", { id: "local", kind: "openai-compatible", baseUrl: fake.baseUrl });
  await client.request("models.upsert", {
    model: { id: "m1", provider: "local", providerModel: "echo", pricing: { input: 1.25, output: 10 } },
  });
  await client.request("settings.update", { titleModelId: "m1" });
  const { conversation } = await client.request("conversations.create", { modelId: "m1", title: "Trip" });
  const A = conversation.id;

  // 1. A reply with thinking.
  await fake.script({ text: "Hi! How can I help with the trip?", thinking: "The user greets me; greet back." });
  const first = await client.request("chat.send", { conversationId: A, content: "Hello" });
  expect((await turn(first.assistantMessageId)).message.thinking).toBe("The user greets me; greet back.");
  await check("after a reply with thinking", A);

  // 2. A sidecar tool call, then the answer using its result.
  await fake.script(
    { text: "", tool_calls: [{ id: "call_time", name: "current_time", arguments: "{}" }] },
    { text: "It is morning in UTC." },
  );
  const second = await client.request("chat.send", { conversationId: A, content: "What time is it?", tools: ["current_time"] });
  const toolTurn = await turn(second.assistantMessageId);
  expect(toolTurn.message.toolCalls.map((c) => [c.name, c.status])).toEqual([["current_time", "completed"]]);
  await check("after a tool call", A);

  // 3. A slow reply, a snapshot mid-stream, then cancelled.
  await fake.script({ text: "Once upon a time ".repeat(40), chunk_size: 6, rate: 20 });
  const third = await client.request("chat.send", { conversationId: A, content: "Tell me a long story" });
  const from = events.length;
  await client.waitFor((e) => e.type === "assistant.stream.delta" && e.messageId === third.assistantMessageId && e.index >= 3, from);
  await check("mid-stream", A, true);
  const midStream = checkpoints[checkpoints.length - 1]!.get;
  expect(midStream.messages.at(-1)!.status).toBe("streaming");
  expect(await client.request("chat.cancel", { messageId: third.assistantMessageId })).toEqual({ cancelled: true });
  expect((await turn(third.assistantMessageId)).message.status).toBe("cancelled");
  await check("after a cancel", A);

  // 4. Regenerate the cancelled reply: a sibling under the same user message.
  await fake.script({ text: "A short story: they went, they saw, they came back." });
  const regenerated = await client.request("chat.regenerate", { messageId: third.assistantMessageId });
  await turn(regenerated.assistantMessageId);
  await check("after regenerate", A);

  // 5. Edit the first user message: a new root sibling and its reply.
  await fake.script({ text: "Hello again! Where to?" });
  const edited = await client.request("chat.edit", { messageId: first.userMessageId, content: "Hello, Lisbon" });
  await turn(edited.assistantMessageId);
  await check("after edit", A);

  // 6. Back to the first branch (lands on its newest leaf: the regenerated reply), rename it, retitle.
  const switched = await client.request("branches.switch", { conversationId: A, messageId: first.userMessageId });
  expect(switched.activeLeafId).toBe(regenerated.assistantMessageId);
  await client.request("branches.rename", { conversationId: A, leafId: regenerated.assistantMessageId, name: "story" });
  await client.request("conversations.update", { conversationId: A, title: "Lisbon trip" });
  await check("after a branch switch and renames", A);

  // 7. An untitled conversation gets a generated title; another one is deleted.
  const { conversation: b } = await client.request("conversations.create", { modelId: "m1" });
  await fake.script({ text: "Saturday looks sunny." }, { text: "Weekend weather" });
  const other = await client.request("chat.send", { conversationId: b.id, content: "Weather this weekend?" });
  await turn(other.assistantMessageId);
  await client.waitFor((e) => e.type === "conversation.updated" && e.conversation.id === b.id && e.conversation.titleSource === "generated");
  const { conversation: c } = await client.request("conversations.create", { title: "Scratch" });
  await client.request("conversations.delete", { conversationId: c.id });
  await check("at the end", A);

  const [usageByModel, usageByConversation] = await Promise.all([
    client.request("usage.summary", { groupBy: "model" }),
    client.request("usage.summary", { groupBy: "conversation" }),
  ]);
  const recording: Recording = {
    conversationId: A,
    otherConversationIds: [b.id, c.id],
    events: [...events],
    checkpoints,
    usageByModel,
    usageByConversation,
  };

  const types = new Set(events.map((e) => e.type));
  for (const type of [
    "agent.thinking.delta",
    "tool.execution.started",
    "tool.execution.completed",
    "assistant.stream.cancelled",
    "assistant.stream.completed",
    "branch.updated",
    "conversation.deleted",
    "usage.recorded",
  ] as const) {
    expect(types, type).toContain(type);
  }
  checkCheckpoints(recording);
  checkUsage(recording);

  // The main conversation's final state, three ways: events alone, the mid-stream snapshot
  // plus the later events, and the sidecar's snapshot.
  const final = checkpoints[checkpoints.length - 1]!.get;
  const fromSnapshot = foldConversation(A, events, Infinity, conversationFromSnapshot(midStream));
  expect(activePath(fromSnapshot)).toEqual(final.messages);
  expect(fromSnapshot.conversation).toEqual(final.conversation);
  expect(isStreaming(fromSnapshot)).toBe(false);
  const folded = foldConversation(A, events);
  // Every message seen stays: 3 exchanges, a regenerated reply, an edited exchange.
  expect(Object.keys(folded.messages)).toHaveLength(9);
  expect(folded.children[""]).toEqual([first.userMessageId, edited.userMessageId]);
  expect(folded.children[third.userMessageId]).toEqual([third.assistantMessageId, regenerated.assistantMessageId]);

  if (process.env.RECORD_FIXTURES === "1") writeFileSync(FIXTURE, JSON.stringify(recording, null, 1) + "\n");
});
