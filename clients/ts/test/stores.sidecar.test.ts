/**
 * The stores on the package's SidecarClient against a real sidecar: they stream a reply
 * live, settle on exactly the sidecar's snapshots, and reload by themselves after the
 * sidecar restarts (a new session whose seq starts again).
 */
import WebSocket from "ws";
import { get } from "svelte/store";
import { until } from "./support/chat.js";
import { afterAll, beforeAll, expect, test } from "vitest";
import { SidecarClient, type ConnectionState } from "../src/client.js";
import {
  connectionStore,
  conversationListStore,
  conversationStore,
  settingsStore,
  usageStore,
  type ClientLike,
  type Readable,
} from "../src/svelte.js";
import { startFake, startSidecar, type FakeProcess, type SidecarEnv } from "./support/env.js";

let sidecar: SidecarEnv;
let fake: FakeProcess;
let client: SidecarClient;

beforeAll(async () => {
  [sidecar, fake] = await Promise.all([startSidecar(), startFake()]);
  client = new SidecarClient({
    url: sidecar.url,
    token: sidecar.token,
    WebSocket: WebSocket as never,
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
  });
  await client.connect();
  await client.request("providers.configure", { id: "local", kind: "openai-compatible", baseUrl: fake.baseUrl });
  await client.request("models.upsert", {
    model: { id: "m1", provider: "local", providerModel: "echo", pricing: { input: 1, output: 2 } },
  });
});

afterAll(async () => {
  await client?.close();
  await Promise.all([sidecar?.stop(), fake?.stop()]);
});

/** Resolves with the first value `match` accepts (checked on every change). */

test("SidecarClient fits the stores' ClientLike", () => {
  const fits: ClientLike<ConnectionState> = client;
  expect(fits).toBe(client);
});

test("stores stream live, equal the snapshots, and reload after a restart", { timeout: 60_000 }, async () => {
  const list = conversationListStore(client);
  const settings = settingsStore(client);
  const usage = usageStore(client);
  const connection = connectionStore(client);
  const states: string[] = [];
  const keep = [list, settings, usage].map((s: Readable<unknown>) => s.subscribe(() => {}));
  keep.push(connection.subscribe((s) => states.push(s)));

  const { conversation } = await client.request("conversations.create", { modelId: "m1", title: "Stores" });
  const store = conversationStore(client, conversation.id);
  const texts: string[] = [];
  keep.push(store.subscribe((v) => texts.push(v.path.at(-1)?.content ?? "")));
  await until(store, (v) => !v.loading, "line 83");

  await fake.script({ text: "Streaming into a Svelte store, one piece at a time.", chunk_size: 5, rate: 40 });
  const sent = await client.request("chat.send", { conversationId: conversation.id, content: "Stream please" });
  const streaming = await until(store, (v) => v.streamingNow && (v.streaming[sent.assistantMessageId]?.text.length ?? 0) > 0, "line 87");
  expect(streaming.path.at(-1)!.status).toBe("streaming");
  const done = await until(store, (v) => v.path.at(-1)?.status === "complete", "line 89");
  expect(done.streamingNow).toBe(false);
  const partial = texts.filter((t) => t.length > 0 && t !== done.path.at(-1)!.content);
  expect(partial.length).toBeGreaterThan(3); // the text grew delta by delta

  const check = async () => {
    const [got, listed, summary] = await Promise.all([
      client.request("conversations.get", { conversationId: conversation.id }),
      client.request("conversations.list", {}),
      client.request("usage.summary", { groupBy: "model" }),
    ]);
    expect(get(store).path).toEqual(got.messages);
    expect(get(store).conversation).toEqual(got.conversation);
    expect(get(list).items).toEqual(listed.items);
    const { costUsd, ...tokens } = get(usage).total;
    const { costUsd: cost, key: _key, ...summaryTokens } = summary.totals;
    expect(tokens).toEqual(summaryTokens);
    expect(costUsd).toBeCloseTo(cost!, 9);
  };
  await until(usage, (v) => v.total.calls === 1, "line 108");
  await check();
  expect(get(settings).settings?.lastModelId).toBe("m1");

  // A restart: a new session whose seq starts again at 0. The stores reload on resync.
  const resynced = new Promise<string>((resolve) => {
    const off = client.onResync((reason) => {
      off();
      resolve(reason);
    });
  });
  await sidecar.restart();
  expect(await resynced).toBe("session-changed");
  expect(states).toContain("reconnecting");
  await until(store, (v) => !v.loading, "line 122");
  await fake.script({ text: "Still here after the restart." });
  const after = await client.request("chat.send", { conversationId: conversation.id, content: "Are you back?" });
  const final = await until(store, (v) => v.messages[after.assistantMessageId]?.status === "complete", "line 125");
  expect(final.path.map((m) => m.role)).toEqual(["user", "assistant", "user", "assistant"]);
  await until(usage, (v) => v.total.calls === 2, "line 127");
  await check();

  keep.forEach((stop) => stop());
});
