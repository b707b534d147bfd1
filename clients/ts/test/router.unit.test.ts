/**
 * The router's pure state and its load failures, without a sidecar (the routing itself
 * runs against a real one in router.sidecar.test.ts).
 */
import { expect, test } from "vitest";
import type { MethodName, Model, ParamsOf, ResultOf, SidecarEvent, Settings } from "../src/generated/protocol.js";
import { createProviderRouter, reduceRouter, resolveModelId, routerStateFrom, UnknownModelError } from "../src/router.js";
import type { ClientLike } from "../src/svelte.js";

const settings = (providerRoutes: Settings["providerRoutes"], lastModelId: string | null = null): Settings => ({
  defaultModelId: null,
  defaultSystemPrompt: "",
  lastModelId,
  preferences: {},
  providerRoutes,
  titleModelId: null,
  toolFolders: [],
});
const model = (id: string, provider: string, aliases: string[] = []) => ({ id, provider, aliases }) as Model;

test("routes keep their reference when a settings change leaves them alone", () => {
  const state = routerStateFrom(settings({ a: "sidecar" }), [model("m", "a")], 1);
  const next = reduceRouter(state, { type: "settings.updated", seq: 2, ts: "", settings: settings({ a: "sidecar" }, "m") });
  expect(next.lastModelId).toBe("m");
  expect(next.routes).toBe(state.routes);
  const moved = reduceRouter(next, { type: "settings.updated", seq: 3, ts: "", settings: settings({ a: "frontend" }) });
  expect(moved.routes).toEqual({ a: "frontend" });
  expect(reduceRouter(moved, { type: "settings.updated", seq: 3, ts: "", settings: settings({}) })).toBe(moved);
});

test("a failed first load fails sends until refresh() mends it", async () => {
  let fail = true;
  const listeners = new Set<(event: SidecarEvent) => void>();
  const client: ClientLike = {
    state: "open",
    async request<M extends MethodName>(method: M, _params: ParamsOf<M>): Promise<ResultOf<M>> {
      if (fail) throw Object.assign(new Error("down"), { reason: "INTERNAL_ERROR" });
      const answers: Partial<Record<MethodName, unknown>> = {
        "settings.get": { settings: settings({ a: "sidecar" }) },
        "models.list": { models: [model("m", "a")] },
        "chat.send": { userMessageId: "u", assistantMessageId: "x" },
      };
      return answers[method] as ResultOf<M>;
    },
    onEvent: (l) => (listeners.add(l), () => listeners.delete(l)),
    onState: () => () => {},
    onResync: () => () => {},
  };
  const legacy = { send: async () => "legacy" };
  const router = createProviderRouter({ client, legacy });
  await expect(router.ready).rejects.toThrow("down");
  await expect(router.send({ conversationId: "c", content: "hi", modelId: "m" })).rejects.toThrow("down");
  fail = false;
  await router.refresh();
  expect(await router.send({ conversationId: "c", content: "hi", modelId: "m" })).toEqual({
    route: "sidecar",
    modelId: "m",
    providerId: "a",
    result: { userMessageId: "u", assistantMessageId: "x" },
  });
  // An unknown model is refused, never routed by guesswork (nor sent anywhere).
  await expect(router.send({ conversationId: "c", content: "hi", modelId: "unknown" })).rejects.toThrow(UnknownModelError);
  router.close();
  expect(listeners.size).toBe(0);
});

test("aliases resolve to their model, an id wins over an alias, and models.updated refreshes both", () => {
  const state = routerStateFrom(settings({}), [model("gpt-4.1", "openai", ["gpt-4-1"]), model("m", "a", ["m-old"])], 1);
  expect(resolveModelId(state, "gpt-4-1")).toBe("gpt-4.1");
  expect(resolveModelId(state, "gpt-4.1")).toBe("gpt-4.1");
  expect(resolveModelId(state, "dall-e-3")).toBeNull();
  expect(resolveModelId(state, "toString")).toBeNull(); // not an inherited property either
  const next = reduceRouter(state, {
    type: "models.updated",
    seq: 2,
    ts: "",
    models: [model("gpt-4.1", "openai", ["gpt-4-1"]), model("gpt-4-1", "local"), model("x", "a", ["gpt-4.1"])],
  });
  expect(resolveModelId(next, "gpt-4-1")).toBe("gpt-4-1");
  expect(resolveModelId(next, "gpt-4.1")).toBe("gpt-4.1");
  expect(resolveModelId(next, "m-old")).toBeNull();
});

test("resolve answers an alias with its model's route and refuses an unknown id with a clear error", async () => {
  const sent: string[] = [];
  const client: ClientLike = {
    state: "open",
    async request<M extends MethodName>(method: M, _params: ParamsOf<M>): Promise<ResultOf<M>> {
      sent.push(method);
      const answers: Partial<Record<MethodName, unknown>> = {
        "settings.get": { settings: settings({ openai: "sidecar" }) },
        "models.list": { models: [model("gpt-4.1", "openai", ["gpt-4-1"])] },
      };
      return answers[method] as ResultOf<M>;
    },
    onEvent: () => () => {},
    onState: () => () => {},
    onResync: () => () => {},
  };
  const legacy = { send: async () => "legacy" };
  const router = createProviderRouter({ client, legacy, defaultRoute: "frontend" });
  expect(await router.resolve({ conversationId: "c", modelId: "gpt-4-1" })).toEqual({
    route: "sidecar",
    modelId: "gpt-4-1",
    providerId: "openai",
  });
  for (const unknown of ["dall-e-3", "whisper-1", "claude-cli-sonnet", "gpt-4-1x"]) {
    const failure = router.resolve({ conversationId: "c", modelId: unknown });
    await expect(failure).rejects.toThrow(UnknownModelError);
    await expect(failure).rejects.toMatchObject({ modelId: unknown, reason: "NOT_FOUND" });
    await expect(failure).rejects.toThrow(`model ${unknown} is unknown to the sidecar`);
    await expect(router.send({ conversationId: "c", content: "hi", modelId: unknown })).rejects.toThrow(UnknownModelError);
  }
  expect(sent.sort()).toEqual(["models.list", "settings.get"]); // nothing sent, to the sidecar or the legacy path
  router.close();
});
