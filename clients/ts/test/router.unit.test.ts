/**
 * The router's pure state and its load failures, without a sidecar (the routing itself
 * runs against a real one in router.sidecar.test.ts).
 */
import { expect, test } from "vitest";
import type { MethodName, Model, ParamsOf, ResultOf, SidecarEvent, Settings } from "../src/generated/protocol.js";
import { createProviderRouter, reduceRouter, routerStateFrom } from "../src/router.js";
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
const model = (id: string, provider: string) => ({ id, provider }) as Model;

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
  expect(await router.send({ conversationId: "c", content: "hi", modelId: "unknown" })).toMatchObject({
    route: "frontend", // an unknown model's provider takes the default route
    result: "legacy",
  });
  router.close();
  expect(listeners.size).toBe(0);
});
