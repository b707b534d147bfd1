/**
 * Small helpers for tests that chat through a real sidecar and a fake provider.
 */
import type { Readable } from "svelte/store";
import type { SidecarClient } from "../../src/client.js";
import type { EventType, Events } from "../../src/generated/protocol.js";
import type { FakeProcess } from "./env.js";

/** Configures provider `local` (the fake) and model `m1`; returns a titled conversation
 * (a title keeps the auto-title request out of the fake's script queue). */
export async function setupChat(
  client: SidecarClient,
  fake: FakeProcess,
  title = "test chat",
): Promise<{ conversationId: string; modelId: string }> {
  await client.request("providers.configure", {
    id: "local",
    kind: "openai-compatible",
    baseUrl: fake.baseUrl,
  });
  await client.request("models.upsert", { model: { id: "m1", provider: "local", providerModel: "echo" } });
  const created = await client.request("conversations.create", { modelId: "m1", title });
  return { conversationId: created.conversation.id, modelId: "m1" };
}

/** Resolves with the first event of `type` matching `predicate` (registered at once). */
export function nextEvent<E extends EventType>(
  client: SidecarClient,
  type: E,
  predicate: (event: Events[E]) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<Events[E]> {
  return new Promise<Events[E]>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${type} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.on(type, (event) => {
      if (!predicate(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}

/** Polls `condition` every 10 ms. */
export async function waitUntil(condition: () => boolean, timeoutMs = 15_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves with the store's first value that `match`es (the current one included), then
 * unsubscribes; rejects after `timeoutMs`, naming `what`. */
export function until<T>(
  store: Readable<T>,
  match: (value: T) => boolean,
  what = "",
  timeoutMs = 15_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let stop: (() => void) | undefined;
    let done = false;
    const timer = setTimeout(() => {
      stop?.();
      reject(new Error(`the store never got there: ${what}`));
    }, timeoutMs);
    stop = store.subscribe((value) => {
      if (done || !match(value)) return;
      done = true;
      clearTimeout(timer);
      queueMicrotask(() => stop?.());
      resolve(value);
    });
    if (done) stop();
  });
}
