/**
 * docs/migration.md, step by step, against a real sidecar with fake providers behind the
 * built-in `openai`, `anthropic` and `deepseek` and a custom OpenAI-compatible backend: the
 * router with a legacy stub and the app's own model ids, then the stores and the adapter to
 * the app's sent/received list that the guide tells the app to render.
 */
import WebSocket from "ws";
import { get } from "svelte/store";
import { until } from "./support/chat.js";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { ChatSendParams } from "../src/generated/protocol.js";
import { SidecarClient } from "../src/client.js";
import { createProviderRouter, UnknownModelError, type ProviderRouter, type RouteInfo } from "../src/router.js";
import { chatMessagesStore, settingsStore, usageStore, type Readable } from "../src/svelte.js";
import { startFake, startSidecar, type FakeProcess, type SidecarEnv } from "./support/env.js";

let sidecar: SidecarEnv;
let fakes: Record<"openai" | "anthropic" | "deepseek" | "custom", FakeProcess>;
let client: SidecarClient;
let router: ProviderRouter;
const legacyCalls: { request: ChatSendParams; info: RouteInfo }[] = [];

beforeAll(async () => {
  const [sc, openai, anthropic, deepseek, custom] = await Promise.all([
    startSidecar(),
    startFake("openai"),
    startFake("anthropic"),
    startFake("deepseek"),
    startFake("openai-compatible"),
  ]);
  sidecar = sc;
  fakes = { openai, anthropic, deepseek, custom };
  client = new SidecarClient({ url: sidecar.url, token: sidecar.token, WebSocket: WebSocket as never });
  await client.connect();
  // What `sidecar import-legacy` brings across: keys for the built-in providers, the custom backend.
  for (const id of ["openai", "anthropic", "deepseek"] as const) {
    await client.request("providers.configure", { id, apiKey: `key-${id}`, baseUrl: fakes[id].baseUrl });
  }
  await client.request("providers.configure", {
    id: "home-llm",
    name: "Home LLM",
    kind: "openai-compatible",
    baseUrl: custom.baseUrl,
  });
  await client.request("models.upsert", { model: { id: "llama3.2", provider: "home-llm", providerModel: "echo" } });
  router = createProviderRouter({
    client,
    legacy: {
      async send(request, info) {
        legacyCalls.push({ request, info });
        return { handledBy: "legacy" };
      },
    },
    defaultRoute: "frontend",
  });
  await router.ready;
}, 60_000);

afterAll(async () => {
  router?.close();
  await client?.close();
  await Promise.all([sidecar?.stop(), ...Object.values(fakes ?? {}).map((f) => f.stop())]);
});


async function upstreamCount(): Promise<number> {
  const counts = await Promise.all(Object.values(fakes).map(async (f) => (await f.requests()).length));
  return counts.reduce((a, b) => a + b, 0);
}

test("step 0: every app model id resolves to its provider; all chats take the old path", async () => {
  const { conversation } = await client.request("conversations.create", {});
  const expected: [string, string][] = [
    ["gpt-4-1", "openai"],
    ["claude-sonnet-4-5-20250929", "anthropic"],
    ["deepseek-chat", "deepseek"],
    ["llama3.2", "home-llm"],
  ];
  const before = await upstreamCount();
  for (const [modelId, providerId] of expected) {
    expect(await router.resolve({ conversationId: conversation.id, modelId })).toEqual({
      route: "frontend",
      modelId,
      providerId,
    });
    const sent = await router.send({ conversationId: conversation.id, content: "hi", modelId });
    expect(sent).toMatchObject({ route: "frontend", providerId, modelId, result: { handledBy: "legacy" } });
    expect(legacyCalls.at(-1)!.info).toEqual({ route: "frontend", modelId, providerId });
  }
  expect(await upstreamCount()).toBe(before); // the sidecar called no provider
});

test("not chat models are refused before anything is sent, whatever the routes", async () => {
  const { conversation } = await client.request("conversations.create", {});
  await router.setRoute("openai", "sidecar");
  const legacyBefore = legacyCalls.length;
  const upstreamBefore = await upstreamCount();
  for (const modelId of ["whisper-1", "dall-e-3"]) {
    const error = await router.send({ conversationId: conversation.id, content: "hi", modelId }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownModelError);
    expect(error).toMatchObject({ modelId, reason: "NOT_FOUND" });
  }
  expect(legacyCalls).toHaveLength(legacyBefore);
  expect(await upstreamCount()).toBe(upstreamBefore);
  const { messages } = await client.request("conversations.get", { conversationId: conversation.id });
  expect(messages).toEqual([]);
  await router.setRoute("openai", null);
});

/** Each provider routed to the sidecar in turn: the id the app sent, what went upstream, what was stored. */
const MOVES = [
  { provider: "deepseek", appModel: "deepseek-chat" },
  { provider: "home-llm", appModel: "llama3.2" },
  { provider: "openai", appModel: "gpt-4-1" },
  { provider: "anthropic", appModel: "claude-sonnet-4-5-20250929" },
] as const;

test("step 2: each provider moved to the sidecar streams into the stores the guide renders", { timeout: 90_000 }, async () => {
  const models = (await client.request("models.list", {})).models;
  const canonical = (name: string) => models.find((m) => m.id === name || m.aliases.includes(name))!;
  const settings = settingsStore(client);
  const keepSettings = settings.subscribe(() => {});
  for (const { provider, appModel } of MOVES) {
    await router.setRoute(provider, "sidecar");
    const fake = fakes[provider === "home-llm" ? "custom" : provider];
    const upstreamBefore = (await fake.requests()).length;
    const { conversation } = await client.request("conversations.create", { modelId: appModel });
    const chat = chatMessagesStore(client, conversation.id);
    const texts: string[] = [];
    const stopText = chat.streamingText.subscribe((t) => texts.push(t));
    await until(chat.conversation, (c) => !c.loading, "loaded");

    const sent = await router.send({ conversationId: conversation.id, content: `hello ${provider}` });
    expect(sent).toMatchObject({ route: "sidecar", providerId: provider, modelId: appModel });
    if (sent.route !== "sidecar") throw new Error("routed to the legacy path");
    const list = await until(
      chat.messages,
      (items) => items.length === 2 && items[1]!.status === "complete",
      `${provider}: the reply ended`,
    );
    stopText();

    // The app's shape: a sent message, then the received reply with its usage.
    const model = canonical(appModel);
    expect(list.map((m) => m.type)).toEqual(["sent", "received"]);
    expect(list[0]).toMatchObject({ content: `hello ${provider}`, status: "complete", modelId: null });
    expect(list[1]).toMatchObject({ id: sent.result.assistantMessageId, modelId: model.id });
    expect(list[1]!.content.length).toBeGreaterThan(0);
    expect(list[1]!.usage?.outputTokens).toBeGreaterThan(0);
    // The streaming text grew while the reply came, and is empty once it ended.
    expect(texts.some((t) => t.length > 0)).toBe(true);
    expect(texts.at(-1)).toBe("");
    expect(get(chat.streaming)).toBe(false);

    // Upstream got the provider's own name for the model the app id resolves to. The chat is
    // the first request; a title request (with the provider's title model) may follow it.
    const requests = (await fake.requests()).slice(upstreamBefore);
    expect(requests[0]!.body.model).toBe(model.providerModel);
    // The settings' last model is what the sidecar answered with.
    await until(settings, (s) => s.settings?.lastModelId === model.id, `${provider}: lastModelId`);
  }
  keepSettings();
});

test("the retired app ids answer through their replacements; the current ones through themselves", async () => {
  const models = (await client.request("models.list", {})).models;
  const answering = (name: string) => models.find((m) => m.id === name || m.aliases.includes(name))?.id;
  expect(answering("gpt-4-1")).toBe("gpt-4.1");
  expect(answering("claude-sonnet-4-5-20250929")).toBe("claude-sonnet-5-5");
  expect(answering("deepseek-chat")).toBe("deepseek-flash");
  expect(answering("llama3.2")).toBe("llama3.2");
  const usage = usageStore(client);
  const value = await until(usage, (u) => !u.loading, "usage loaded");
  for (const id of ["gpt-4.1", "claude-sonnet-5-5", "deepseek-flash", "llama3.2"]) {
    expect(value.byModel[id]?.calls, id).toBeGreaterThan(0);
  }
});

test("branches as the compare page uses them, and a saved system prompt for one turn", { timeout: 60_000 }, async () => {
  await router.setRoute("home-llm", "sidecar");
  const fake = fakes.custom;
  const { conversation } = await client.request("conversations.create", { modelId: "llama3.2" });
  const chat = chatMessagesStore(client, conversation.id);
  const keep = chat.messages.subscribe(() => {});
  const ended = (n: number, what: string) =>
    until(chat.messages, (items) => items.length === n && items.every((m) => m.status === "complete"), what);

  const { prompt } = await client.request("systemPrompts.create", { name: "Pirate", content: "Talk like a pirate." }).then(
    (r) => ({ prompt: r.systemPrompt }),
  );
  const before = (await fake.requests()).length;
  const first = await router.send({ conversationId: conversation.id, content: "ahoy" });
  if (first.route !== "sidecar") throw new Error("routed to the legacy path");
  await ended(2, "first reply");
  await client.request("chat.send", { conversationId: conversation.id, content: "again", systemPromptId: prompt.id });
  await ended(4, "second reply");
  // The chat turns upstream (the title request in between is left out), by their last message.
  const turns = new Map(
    (await fake.requests())
      .slice(before)
      .map((r) => r.body.messages as { role: string; content: unknown }[])
      .map((messages) => [JSON.stringify(messages.at(-1)?.content), JSON.stringify(messages)] as const),
  );
  expect([...turns.keys()]).toEqual(expect.arrayContaining([JSON.stringify("ahoy"), JSON.stringify("again")]));
  expect(turns.get(JSON.stringify("ahoy"))).not.toContain("Talk like a pirate.");
  expect(turns.get(JSON.stringify("again"))).toContain("Talk like a pirate.");

  // Regenerate the first reply: a second branch, now the active one.
  const redo = await router.regenerate({ conversationId: conversation.id, messageId: first.result.assistantMessageId });
  if (redo.route !== "sidecar") throw new Error("routed to the legacy path");
  const shown = await ended(2, "regenerated reply");
  expect(shown[1]).toMatchObject({ id: redo.result.assistantMessageId, siblingIds: [first.result.assistantMessageId, redo.result.assistantMessageId] });
  const { branches } = await client.request("branches.list", { conversationId: conversation.id });
  expect(branches).toHaveLength(2);
  const other = branches.find((b) => !b.active)!;

  // The compare page reads the other branch without switching to it.
  const path = await client.request("branches.path", { conversationId: conversation.id, leafId: other.leafId });
  expect(path.messages.map((m) => m.content.slice(0, 5))).toEqual(["ahoy", expect.any(String), "again", expect.any(String)]);
  expect(get(chat.messages).map((m) => m.id)).toEqual(shown.map((m) => m.id));

  // Deleting it removes only its own messages; the shown branch stays.
  const deleted = await client.request("branches.delete", { conversationId: conversation.id, leafId: other.leafId });
  expect(deleted.deletedMessageIds).toHaveLength(3); // "again", its reply, and the first reply
  expect(deleted.activeLeafId).toBe(redo.result.assistantMessageId);
  expect((await client.request("branches.list", { conversationId: conversation.id })).branches).toHaveLength(1);
  await until(chat.messages, (items) => items[1]?.siblingIds.length === 1, "the sibling is gone");
  keep();
});
