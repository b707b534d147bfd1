/**
 * The provider router against a real sidecar: two providers, one routed to the sidecar and
 * one to a legacy stub (standing in for the app's old TypeScript path, which the app
 * injects), switched at runtime from another connection and through the router itself.
 * What each path received is checked on both sides: the stub's calls, the fake provider's
 * requests and the messages the sidecar stored.
 */
import WebSocket from "ws";
import { get } from "svelte/store";
import { until } from "./support/chat.js";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { ChatSendParams } from "../src/generated/protocol.js";
import { SidecarClient } from "../src/client.js";
import {
  createProviderRouter,
  UnknownModelError,
  type ProviderRouter,
  type RouteInfo,
  type RoutedEdit,
  type RoutedRegenerate,
} from "../src/router.js";
import type { Readable } from "../src/svelte.js";
import { RawClient } from "./fixtures/rawClient.js";
import { startFake, startSidecar, type FakeProcess, type SidecarEnv } from "./support/env.js";

let sidecar: SidecarEnv;
let fake: FakeProcess;
let client: SidecarClient;
let admin: RawClient; // another window of the app, flipping the switch
let router: ProviderRouter;
const legacyCalls: { request: ChatSendParams; info: RouteInfo }[] = [];
const legacyCancels: string[] = [];
const legacyRedos: { kind: "regenerate" | "edit"; request: RoutedRegenerate | RoutedEdit; info: RouteInfo }[] = [];

beforeAll(async () => {
  [sidecar, fake] = await Promise.all([startSidecar(), startFake()]);
  client = new SidecarClient({ url: sidecar.url, token: sidecar.token, WebSocket: WebSocket as never });
  await client.connect();
  admin = await RawClient.connect(sidecar.url, sidecar.token);
  for (const id of ["local", "other"]) {
    await admin.request("providers.configure", { id, kind: "openai-compatible", baseUrl: fake.baseUrl });
  }
  await admin.request("models.upsert", { model: { id: "m-local", provider: "local", providerModel: "echo" } });
  await admin.request("models.upsert", { model: { id: "m-other", provider: "other", providerModel: "echo" } });
  router = createProviderRouter({
    client,
    legacy: {
      async send(request, info) {
        legacyCalls.push({ request, info });
        return { handledBy: "legacy" };
      },
      async regenerate(request, info) {
        legacyRedos.push({ kind: "regenerate", request, info });
        return { handledBy: "legacy" };
      },
      async edit(request, info) {
        legacyRedos.push({ kind: "edit", request, info });
        return { handledBy: "legacy" };
      },
      async cancel(messageId) {
        legacyCancels.push(messageId);
        return { cancelled: true };
      },
    },
  });
  await router.ready;
});

afterAll(async () => {
  router?.close();
  await client?.close();
  await admin?.close();
  await Promise.all([sidecar?.stop(), fake?.stop()]);
});


/** Sends through the router and reports which path got it, checked on both sides. */
async function sendVia(conversationId: string, content: string, modelId?: string) {
  const legacyBefore = legacyCalls.length;
  const upstreamBefore = (await fake.requests()).length;
  const result = await router.send({ conversationId, content, ...(modelId === undefined ? {} : { modelId }) });
  if (result.route === "sidecar") {
    await admin.waitFor((e) => e.type === "message.updated" && e.message.id === result.result.assistantMessageId && e.message.status === "complete");
    expect(legacyCalls).toHaveLength(legacyBefore);
    expect((await fake.requests()).length).toBe(upstreamBefore + 1);
  } else {
    expect(legacyCalls).toHaveLength(legacyBefore + 1);
    expect(legacyCalls.at(-1)!.request).toMatchObject({ conversationId, content });
    expect(result.result).toEqual({ handledBy: "legacy" });
    expect((await fake.requests()).length).toBe(upstreamBefore); // the sidecar called nobody
  }
  return result;
}

test("routes per provider, follows a switch made elsewhere at runtime, and switches itself", { timeout: 60_000 }, async () => {
  // Nothing routed yet: every provider takes the default, "frontend".
  expect(router.routeFor("local")).toBe("frontend");
  await router.setRoute("local", "sidecar");
  await router.setRoute("other", "frontend");
  expect(get(router.routes)).toEqual({ local: "sidecar", other: "frontend" });

  const x = (await admin.request("conversations.create", { modelId: "m-local", title: "X" })).conversation.id;
  const y = (await admin.request("conversations.create", { modelId: "m-other", title: "Y" })).conversation.id;

  const toSidecar = await sendVia(x, "via the sidecar");
  expect(toSidecar).toMatchObject({ route: "sidecar", providerId: "local", modelId: "m-local" });
  const toLegacy = await sendVia(y, "via the legacy path");
  expect(toLegacy).toMatchObject({ route: "frontend", providerId: "other", modelId: "m-other" });
  expect(legacyCalls.at(-1)!.info).toEqual({ route: "frontend", providerId: "other", modelId: "m-other" });
  expect((await admin.request("conversations.get", { conversationId: y })).messages).toEqual([]);

  // The model of the request wins over the conversation's.
  expect(await sendVia(y, "this one with the local model", "m-local")).toMatchObject({ route: "sidecar", providerId: "local" });

  // Another window moves "other" to the sidecar: this router follows settings.updated.
  const routes = router.routes;
  await admin.request("settings.update", { providerRoutes: { other: "sidecar" } });
  await until(routes, (r) => r.other === "sidecar");
  expect(router.routeFor("other")).toBe("sidecar");
  expect(await sendVia(y, "other is migrated now")).toMatchObject({ route: "sidecar", providerId: "other" });

  // And back, through the router; removing a route falls back to the default.
  await router.setRoute("local", "frontend");
  expect(await sendVia(x, "local rolled back")).toMatchObject({ route: "frontend", providerId: "local" });
  await router.setRoute("other", null);
  expect(get(router.routes)).toEqual({ local: "frontend" });
  expect(await sendVia(y, "other by default")).toMatchObject({ route: "frontend", providerId: "other" });
});

test("a model added at runtime is routed by its provider without a reload", async () => {
  await router.setRoute("other", "sidecar");
  await admin.request("models.upsert", { model: { id: "m-new", provider: "other", providerModel: "echo" } });
  const z = (await admin.request("conversations.create", { modelId: "m-new", title: "Z" })).conversation.id;
  expect(await router.resolve({ conversationId: z })).toEqual({ route: "sidecar", modelId: "m-new", providerId: "other" });
});

test("a conversation without a model takes the sidecar's default, then the last used model", async () => {
  const bare = (await admin.request("conversations.create", { title: "no model" })).conversation.id;
  const last = (await admin.request("settings.get", {})).settings.lastModelId;
  expect(last).not.toBeNull();
  expect((await router.resolve({ conversationId: bare })).modelId).toBe(last);
  // On the router's own connection, settings.updated arrives before the answer.
  await client.request("settings.update", { defaultModelId: "m-local" });
  expect(await router.resolve({ conversationId: bare })).toMatchObject({ modelId: "m-local", providerId: "local" });
});

test("cancel goes to the sidecar, and to the legacy path for messages the sidecar does not know", async () => {
  await router.cancel("legacy-message-1");
  expect(legacyCancels).toEqual(["legacy-message-1"]);
  const x = (await admin.request("conversations.create", { modelId: "m-local", title: "C" })).conversation.id;
  await router.setRoute("local", "sidecar");
  await fake.script({ text: "slow ".repeat(100), rate: 10 });
  const sent = await router.send({ conversationId: x, content: "long one" });
  if (sent.route !== "sidecar") throw new Error("expected the sidecar route");
  expect(await router.cancel(sent.result.assistantMessageId)).toEqual({ cancelled: true });
  expect(legacyCancels).toHaveLength(1);
});

test("regenerate and edit follow the route of the conversation's model", { timeout: 60_000 }, async () => {
  await router.setRoute("other", "frontend");
  const y = (await admin.request("conversations.create", { modelId: "m-other", title: "R" })).conversation.id;
  // A turn the legacy path ran, recorded in the sidecar.
  const turn = await admin.request("chat.record", {
    conversationId: y,
    content: "Name a fruit",
    reply: { content: "Apple", modelId: "m-other", status: "complete" },
  });
  const upstreamBefore = (await fake.requests()).length;

  const regenerated = await router.regenerate({ conversationId: y, messageId: turn.assistantMessageId });
  expect(regenerated).toMatchObject({ route: "frontend", providerId: "other", result: { handledBy: "legacy" } });
  const edited = await router.edit({ conversationId: y, messageId: turn.userMessageId, content: "Name a vegetable" });
  expect(edited).toMatchObject({ route: "frontend", result: { handledBy: "legacy" } });
  expect(legacyRedos.map((r) => [r.kind, r.request.messageId, r.info.route])).toEqual([
    ["regenerate", turn.assistantMessageId, "frontend"],
    ["edit", turn.userMessageId, "frontend"],
  ]);
  expect((await fake.requests()).length).toBe(upstreamBefore); // the sidecar called nobody

  // Migrated: the same calls go to the sidecar, which answers with siblings.
  await router.setRoute("other", "sidecar");
  const again = await router.regenerate({ conversationId: y, messageId: turn.assistantMessageId });
  if (again.route !== "sidecar") throw new Error("expected the sidecar route");
  await admin.waitFor((e) => e.type === "message.updated" && e.message.id === again.result.assistantMessageId && e.message.status === "complete");
  const changed = await router.edit({ conversationId: y, messageId: turn.userMessageId, content: "Name a vegetable" });
  if (changed.route !== "sidecar") throw new Error("expected the sidecar route");
  await admin.waitFor((e) => e.type === "message.updated" && e.message.id === changed.result.assistantMessageId && e.message.status === "complete");
  expect((await fake.requests()).length).toBe(upstreamBefore + 2);
  const shown = await admin.request("conversations.get", { conversationId: y });
  expect(shown.messages.map((m) => m.content)).toEqual(["Name a vegetable", "You said: Name a vegetable"]);
  expect(shown.messages[0]!.siblingIds).toHaveLength(2);
  expect(legacyRedos).toHaveLength(2);
});

test("the old app's gpt-4-1 takes the openai route, the sidecar's when openai is moved there", async () => {
  // The built-in openai provider, pointed at the fake (it speaks the same chat completions).
  await admin.request("providers.configure", { id: "openai", baseUrl: fake.baseUrl, apiKey: "sk-test" });
  const x = (await admin.request("conversations.create", { modelId: "gpt-4-1", title: "Old id" })).conversation.id;
  expect(await router.resolve({ conversationId: x })).toEqual({ route: "frontend", modelId: "gpt-4-1", providerId: "openai" });
  await router.setRoute("openai", "sidecar");
  expect(await router.resolve({ conversationId: x })).toEqual({ route: "sidecar", modelId: "gpt-4-1", providerId: "openai" });
  const sent = await sendVia(x, "which model?");
  expect(sent).toMatchObject({ route: "sidecar", modelId: "gpt-4-1", providerId: "openai" });
  expect((await fake.requests()).at(-1)!.body.model).toBe("gpt-4.1"); // the API's name upstream
  const shown = await admin.request("conversations.get", { conversationId: x });
  expect(shown.messages.at(-1)).toMatchObject({ role: "assistant", modelId: "gpt-4.1", provider: "openai" });
});

test("an id the sidecar does not know is a clear error, never a route", async () => {
  const x = (await admin.request("conversations.create", { title: "Unknown" })).conversation.id;
  const legacyBefore = legacyCalls.length;
  const upstreamBefore = (await fake.requests()).length;
  for (const modelId of ["dall-e-3", "whisper-1", "claude-cli-sonnet", "gpt-4-1x"]) {
    await expect(router.resolve({ conversationId: x, modelId })).rejects.toThrow(UnknownModelError);
    await expect(router.send({ conversationId: x, content: "hi", modelId })).rejects.toMatchObject({ name: "UnknownModelError", modelId });
  }
  expect(legacyCalls).toHaveLength(legacyBefore);
  expect((await fake.requests()).length).toBe(upstreamBefore);
  expect((await admin.request("conversations.get", { conversationId: x })).messages).toEqual([]);
  // The sidecar, asked directly, refuses the same ids and says why.
  await expect(client.request("chat.send", { conversationId: x, content: "hi", modelId: "dall-e-3" })).rejects.toThrow(
    "dall-e-3 is an image model",
  );
});
