/**
 * The stores inside real Svelte: `get` and `derived` from `svelte/store` (Svelte 5) and from
 * `svelte4/store` (Svelte 4, an aliased devDependency), and a component using `$store`
 * compiled and server-rendered by each compiler. The package itself imports no Svelte.
 */
import type { Component } from "svelte";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { compile as compile5 } from "svelte/compiler";
import { render as render5 } from "svelte/server";
import { derived as derived5, get as get5 } from "svelte/store";
import { expect, test } from "vitest";
import type { MethodName, ParamsOf, ResultOf, SidecarEvent } from "../src/generated/protocol.js";
import {
  conversationListStore,
  conversationStore,
  usageStore,
  type ClientLike,
  type Readable,
} from "../src/svelte.js";
import { FIXTURE, type Recording } from "./fixtures/scenario.js";

// Svelte 4's type declarations claim the "svelte/*" module names too, so it is loaded
// untyped here (a computed specifier) and described by the little used of it.
type Svelte4Store = {
  get<T>(store: Readable<T>): T;
  derived<S, T>(store: Readable<S>, fn: (value: S) => T): Readable<T>;
};
type Svelte4Compiler = {
  compile(source: string, options: { generate: "ssr"; filename: string; sveltePath: string }): { js: { code: string } };
};
const svelte4 = (path: string): Promise<unknown> => import(/* @vite-ignore */ `svelte4/${path}`);
const { get: get4, derived: derived4 } = (await svelte4("store")) as Svelte4Store;
const { compile: compile4 } = (await svelte4("compiler")) as Svelte4Compiler;

const recording = JSON.parse(readFileSync(FIXTURE, "utf8")) as Recording;
const end = recording.checkpoints.find((c) => c.label === "at the end")!;

/** Answers every snapshot request from the recording at once. */
class FixtureClient implements ClientLike<"open"> {
  readonly state = "open" as const;
  readonly listeners = new Set<(event: SidecarEvent) => void>();
  async request<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    const answer = (): unknown => {
      switch (method) {
        case "conversations.get":
          return end.get;
        case "conversations.list":
          return end.list;
        case "usage.summary": {
          const groupBy = (params as { groupBy: string }).groupBy;
          if (groupBy === "conversation") return recording.usageByConversation;
          if (groupBy === "model") return recording.usageByModel;
          const totals = recording.usageByModel.totals;
          return { rows: [{ ...totals, key: end.get.conversation.updatedAt.slice(0, 10) }], totals };
        }
        default:
          throw new Error(`unexpected ${method}`);
      }
    };
    return answer() as ResultOf<M>;
  }
  onEvent(listener: (event: SidecarEvent) => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  onState() {
    return () => {};
  }
  onResync() {
    return () => {};
  }
}

/** Subscribes until the stores loaded, so a render's `$store` reads their loaded values. */
async function loadedStores() {
  const client = new FixtureClient();
  const stores = {
    conversation: conversationStore(client, recording.conversationId),
    list: conversationListStore(client),
    usage: usageStore(client),
  };
  const keep = Object.values(stores).map((s: Readable<{ loading: boolean }>) => s.subscribe(() => {}));
  await new Promise((resolve) => setTimeout(resolve, 0));
  return { client, stores, release: () => keep.forEach((stop) => stop()) };
}

const COMPONENT = `
<script>
  export let conversation;
  export let list;
  export let usage;
  $: title = $conversation.conversation ? $conversation.conversation.title : "";
</script>
<h1>{title}</h1>
<ul>{#each $list.items as c (c.id)}<li>{c.title}</li>{/each}</ul>
{#each $conversation.path as m (m.id)}<p class={m.role}>{m.content} [{m.siblingIds.length}]</p>{/each}
<footer>{$usage.total.calls} calls</footer>
`;

/** What the page must show for the recorded end state. */
function expectRendered(html: string) {
  expect(html).toContain(`<h1>${end.get.conversation.title}</h1>`);
  for (const c of end.list.items) expect(html).toContain(`<li>${c.title}</li>`);
  const paragraphs = [...html.matchAll(/<p class="(user|assistant)">([^<]*)<\/p>/g)].map((m) => [m[1], m[2]]);
  expect(paragraphs).toEqual(end.get.messages.map((m) => [m.role, `${m.content} [${m.siblingIds.length}]`]));
  expect(html).toContain(`<footer>${recording.usageByModel.totals.calls} calls</footer>`);
}

const OUT = fileURLToPath(new URL("../node_modules/.cache/chat-sidecar-store-tests/", import.meta.url));

async function load(name: string, code: string): Promise<Record<string, unknown>> {
  mkdirSync(OUT, { recursive: true });
  const file = `${OUT}${name}-${process.pid}.mjs`;
  writeFileSync(file, code);
  return (await import(/* @vite-ignore */ pathToFileURL(file).href)) as Record<string, unknown>;
}

test("svelte 5: get, derived, and a server-rendered component using $store", async () => {
  const { stores, release } = await loadedStores();
  expect(get5(stores.conversation).path).toEqual(end.get.messages);
  const titles = derived5([stores.list, stores.conversation], ([$list, $c]) => [$list.items.length, $c.conversation?.title]);
  expect(get5(titles)).toEqual([end.list.items.length, end.get.conversation.title]);

  const { js } = compile5(COMPONENT, { generate: "server", filename: "Chat.svelte" });
  type Props = typeof stores;
  const Chat = (await load("chat5", js.code)).default as Component<Props>;
  const { body } = render5(Chat, { props: stores });
  expectRendered(body);
  release();
});

test("svelte 4: get, derived, and a server-rendered component using $store", async () => {
  const { stores, release, client } = await loadedStores();
  expect(get4(stores.usage).total.calls).toBe(recording.usageByModel.totals.calls);
  const count = derived4(stores.conversation, ($c) => $c.path.length);
  expect(get4(count)).toBe(end.get.messages.length);

  const { js } = compile4(COMPONENT, { generate: "ssr", filename: "Chat.svelte", sveltePath: "svelte4" });
  const Chat = (await load("chat4", js.code)).default as { render(props: unknown): { html: string } };
  const { html } = Chat.render(stores);
  expectRendered(html);
  release();
  expect(client.listeners.size).toBe(0); // the render's subscriptions ended too
});
