/**
 * Every method of the protocol, called through `client.request` against a real sidecar and
 * a fake provider, with every inbound frame validated against schema/. Also the error
 * mapping (RpcError with `reason`) and typed event subscriptions.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { WebSocket as WS } from "ws";
import {
  METHOD_NAMES,
  PROTOCOL_VERSION,
  RpcError,
  SidecarClient,
  type MethodName,
  type ParamsOf,
  type ResultOf,
  type SidecarEvent,
} from "../src/index.js";
import { nextEvent, setupChat } from "./support/chat.js";
import { startFake, startSidecar, type FakeProcess, type SidecarEnv } from "./support/env.js";
import { createWire, type Wire } from "./support/wire.js";

let env: SidecarEnv;
let fake: FakeProcess;
let wire: Wire;
let client: SidecarClient;
const events: SidecarEvent[] = [];

beforeAll(async () => {
  [env, fake] = await Promise.all([startSidecar(), startFake()]);
  wire = createWire();
  client = new SidecarClient({
    url: env.url,
    token: env.token,
    clientInfo: { name: "methods-test", version: "1" },
    WebSocket: wire.WebSocket,
  });
  client.onEvent((event) => events.push(event));
  await client.connect();
});

afterAll(async () => {
  await client?.close();
  await Promise.all([env?.stop(), fake?.stop()]);
});

describe("every method through client.request", () => {
  it("calls all of METHOD_NAMES with valid params and gets meaningful results", async () => {
    const called = new Set<MethodName>();
    const call = <M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> => {
      called.add(method);
      return client.request(method, params);
    };
    // A fast reply can finish before its chat.send result is read: look back before waiting.
    const finished = (messageId: string) => {
      const done = (e: SidecarEvent): e is Extract<SidecarEvent, { type: "message.updated" }> =>
        e.type === "message.updated" && e.message.id === messageId && e.message.status === "complete";
      const seen = events.find(done);
      return seen ? Promise.resolve(seen) : nextEvent(client, "message.updated", done);
    };

    // session
    const init = await call("initialize", { protocolVersion: PROTOCOL_VERSION, clientInfo: { name: "again" } });
    expect(init.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(init.sessionId).toBe(client.sessionId);
    expect(init.capabilities.methods).toEqual([...METHOD_NAMES].sort());
    const sub = await call("events.subscribe", { since: client.lastSeq });
    expect(sub).toEqual({ lastSeq: client.lastSeq, replayed: 0 });

    // providers and models
    const provider = await call("providers.configure", { id: "local", kind: "openai-compatible", baseUrl: fake.baseUrl });
    expect(provider.provider).toMatchObject({ id: "local", builtin: false, hasKey: false });
    await call("providers.configure", { id: "spare", kind: "openai-compatible", baseUrl: fake.baseUrl });
    expect((await call("providers.list", {})).providers.map((p) => p.id)).toEqual(
      expect.arrayContaining(["openai", "anthropic", "deepseek", "local", "spare"]),
    );
    expect(await call("providers.remove", { id: "spare" })).toEqual({});
    const served = await call("providers.models", { id: "local" });
    expect(served.error).toBeNull();
    expect(served.models.map((m) => m.name)).toEqual(expect.arrayContaining(["gpt-4o-mini"]));
    const checked = await call("providers.check", { id: "local" });
    expect(checked).toMatchObject({ ok: true, reachable: true, error: null });
    expect(checked.modelCount).toBe(served.models.length);
    expect((await client.request("providers.list", {})).providers.map((p) => p.id)).not.toContain("spare");

    const model = await call("models.upsert", {
      model: { id: "m1", provider: "local", providerModel: "echo", capabilities: { tools: true } },
    });
    expect(model.model).toMatchObject({ id: "m1", provider: "local", source: "user" });
    await call("models.upsert", { model: { id: "m2", provider: "local" } });
    expect((await call("models.list", { provider: "local" })).models.map((m) => m.id).sort()).toEqual(["m1", "m2"]);
    expect(await call("models.remove", { modelId: "m2" })).toEqual({});

    // prompts and settings
    const prompt = await call("systemPrompts.create", { name: "terse", content: "Be brief." });
    const renamed = await call("systemPrompts.update", { id: prompt.systemPrompt.id, name: "short" });
    expect(renamed.systemPrompt).toMatchObject({ name: "short", content: "Be brief." });
    expect((await call("systemPrompts.list", {})).systemPrompts.map((p) => p.name)).toContain("short");
    expect(await call("systemPrompts.delete", { id: prompt.systemPrompt.id })).toEqual({});
    const settings = await call("settings.update", { defaultModelId: "m1", providerRoutes: { local: "sidecar" } });
    expect(settings.settings).toMatchObject({ defaultModelId: "m1", providerRoutes: { local: "sidecar" } });
    expect((await call("settings.get", {})).settings.defaultModelId).toBe("m1");

    // conversations and chat
    const created = await call("conversations.create", { modelId: "m1", title: "Every method" });
    const conversationId = created.conversation.id;
    expect(created.seq).toBeLessThanOrEqual(client.lastSeq);
    expect((await call("conversations.list", { limit: 10 })).items.map((c) => c.id)).toContain(conversationId);
    const updated = await call("conversations.update", { conversationId, title: "Renamed" });
    expect(updated.conversation).toMatchObject({ title: "Renamed", titleSource: "user" });

    const first = await call("chat.send", { conversationId, content: "Hi there" });
    const firstDone = await finished(first.assistantMessageId);
    expect(firstDone.message.content).toBe("You said: Hi there");

    const got = await call("conversations.get", { conversationId });
    expect(got.messages.map((m) => [m.role, m.content])).toEqual([
      ["user", "Hi there"],
      ["assistant", "You said: Hi there"],
    ]);
    expect(got.seq).toBeLessThanOrEqual(client.lastSeq);

    const regenerated = await call("chat.regenerate", { messageId: first.assistantMessageId });
    await finished(regenerated.assistantMessageId);
    const edited = await call("chat.edit", { messageId: first.userMessageId, content: "Hello again" });
    expect((await finished(edited.assistantMessageId)).message.content).toBe("You said: Hello again");

    const tree = await call("conversations.tree", { conversationId });
    expect(tree.messages).toHaveLength(5);
    expect(tree.activeLeafId).toBe(edited.assistantMessageId);
    expect((await call("branches.list", { conversationId })).branches).toHaveLength(3);
    const switched = await call("branches.switch", { conversationId, messageId: first.assistantMessageId });
    expect(switched.activeLeafId).toBe(first.assistantMessageId);
    const branch = await call("branches.rename", { conversationId, leafId: first.assistantMessageId, name: "first" });
    expect(branch.branch).toMatchObject({ leafId: first.assistantMessageId, name: "first", active: true });
    const other = await call("branches.path", { conversationId, leafId: edited.assistantMessageId });
    expect(other.messages.map((m) => m.content)).toEqual(["Hello again", "You said: Hello again"]);
    expect((await client.request("conversations.tree", { conversationId })).activeLeafId).toBe(first.assistantMessageId);
    const dropped = await call("branches.delete", { conversationId, leafId: regenerated.assistantMessageId });
    expect(dropped).toEqual({ deletedMessageIds: [regenerated.assistantMessageId], activeLeafId: first.assistantMessageId });

    // a stream cancelled halfway
    await fake.script({ text: "x".repeat(400), chunk_size: 4, rate: 40 });
    const slow = await call("chat.send", { conversationId, content: "Tell me a long story" });
    await nextEvent(client, "assistant.stream.delta", (e) => e.messageId === slow.assistantMessageId);
    expect(await call("chat.cancel", { messageId: slow.assistantMessageId })).toEqual({ cancelled: true });
    expect(await client.request("chat.cancel", { messageId: slow.assistantMessageId })).toEqual({ cancelled: false });

    // tools: a client tool that needs approval, answered by this client
    expect((await call("tools.list", {})).tools.map((t) => t.name)).toEqual(
      expect.arrayContaining(["current_time", "calculate"]),
    );
    const tool = await call("tools.register", {
      name: "lookup",
      description: "Looks a word up",
      inputSchema: { type: "object", properties: { word: { type: "string" } } },
      requiresApproval: true,
    });
    expect(tool.tool).toMatchObject({ name: "lookup", executor: "client", requiresApproval: true });
    await fake.script(
      { text: "", tool_calls: [{ id: "call_1", name: "lookup", arguments: '{"word":"sidecar"}' }] },
      { text: "A sidecar rides along." },
    );
    const proposed = nextEvent(client, "tool.execution.proposed");
    const started = nextEvent(client, "tool.execution.started");
    const withTool = await call("chat.send", { conversationId, content: "What is a sidecar?", tools: ["lookup"] });
    const proposal = await proposed;
    expect(proposal).toMatchObject({ name: "lookup", arguments: { word: "sidecar" } });
    expect(await call("tools.approve", { callId: proposal.callId, approved: true })).toEqual({});
    expect((await started).executor).toBe("client");
    expect(await call("tools.submitResult", { callId: proposal.callId, result: { meaning: "a helper" } })).toEqual({});
    const toolDone = await finished(withTool.assistantMessageId);
    expect(toolDone.message.content).toBe("A sidecar rides along.");
    expect(toolDone.message.toolCalls[0]).toMatchObject({ status: "completed", result: { meaning: "a helper" } });
    expect(await call("tools.unregister", { name: "lookup" })).toEqual({});

    // a turn the app's own provider code ran (a provider on "frontend"), recorded as it ended
    const recorded = await call("chat.record", {
      conversationId,
      content: "Asked the old way",
      reply: { content: "Answered the old", modelId: "m1", status: "cancelled", usage: { inputTokens: 12, outputTokens: 3 } },
      clientRequestId: "record-1",
    });
    const recordedPath = (await call("conversations.get", { conversationId })).messages.slice(-2);
    expect(recordedPath.map((m) => [m.id, m.role, m.content, m.status])).toEqual([
      [recorded.userMessageId, "user", "Asked the old way", "complete"],
      [recorded.assistantMessageId, "assistant", "Answered the old", "cancelled"],
    ]);
    expect(recordedPath[1]?.usage).toMatchObject({ inputTokens: 12, outputTokens: 3 });
    expect(
      await client.request("chat.record", {
        conversationId,
        content: "Asked the old way",
        reply: { content: "Answered the old", modelId: "m1", status: "cancelled" },
        clientRequestId: "record-1",
      }),
    ).toEqual(recorded);

    // an old message's attachment, read back as base64 bytes
    const withFile = await call("chat.send", {
      conversationId,
      content: "Read this",
      attachments: [{ name: "notes.txt", mimeType: "text/plain", text: "Olá ☕" }],
    });
    await finished(withFile.assistantMessageId);
    const stored = (await client.request("conversations.get", { conversationId })).messages.find(
      (m) => m.id === withFile.userMessageId,
    );
    const attachmentId = stored!.attachments[0]!.id;
    const file = await call("attachments.get", { attachmentId });
    expect(file).toMatchObject({ attachmentId, name: "notes.txt", mimeType: "text/plain", size: 8 });
    expect(Buffer.from(file.data, "base64").toString("utf8")).toBe("Olá ☕");
    await expect(client.request("attachments.get", { attachmentId: "nope" })).rejects.toMatchObject({
      reason: "NOT_FOUND",
      data: { kind: "attachment", id: "nope" },
    });

    // speech to text: a custom backend's transcription model; the recording kept with its transcript
    await call("models.upsert", {
      model: { id: "local-whisper", provider: "local", providerModel: "whisper-small", kind: "transcription" },
    });
    const recording = Buffer.from("fake audio bytes").toString("base64");
    const heard = await call("audio.transcribe", { data: recording, mimeType: "audio/webm", providerId: "local" });
    expect(heard).toMatchObject({ modelId: "local-whisper", providerId: "local", usage: { kind: "transcription" } });
    expect(heard.text).toContain("webm audio");
    const spoken = await client.request("chat.send", {
      conversationId,
      content: heard.text,
      attachments: [{ name: "voice.webm", mimeType: "audio/webm", data: recording, transcript: heard.text }],
    });
    await finished(spoken.assistantMessageId);
    const voice = (await client.request("conversations.get", { conversationId })).messages.find(
      (m) => m.id === spoken.userMessageId,
    );
    expect(voice!.attachments[0]).toMatchObject({ mimeType: "audio/webm", transcript: heard.text });

    // usage, titles, transfer
    const usage = await call("usage.summary", { groupBy: "model" });
    expect(usage.rows.find((r) => r.key === "m1")?.calls).toBeGreaterThanOrEqual(5);
    expect(usage.totals.calls).toBe(usage.rows.reduce((sum, r) => sum + r.calls, 0));
    await client.request("conversations.update", { conversationId, title: null });
    await fake.script({ text: "Sidecar questions" });
    expect(await call("titles.generate", { conversationId })).toEqual({ title: "Sidecar questions" });

    const exported = await call("conversations.export", { conversationId, format: "json" });
    if (typeof exported.document === "string") throw new Error("json export is an object");
    expect(exported.document.format).toBe("chat-sidecar.conversation");
    expect(exported.document.messages.length).toBeGreaterThanOrEqual(7);
    const markdown = await client.request("conversations.export", { conversationId, format: "markdown" });
    expect(markdown.document).toEqual(expect.stringContaining("Sidecar questions"));
    const imported = await call("conversations.import", { document: exported.document });
    expect(imported.conversation.id).not.toBe(conversationId);
    expect(imported.conversation.title).toBe("Sidecar questions");
    expect(await call("conversations.delete", { conversationId: imported.conversation.id })).toEqual({});
    await expect(client.request("conversations.get", { conversationId: imported.conversation.id })).rejects.toMatchObject({
      name: "RpcError",
      reason: "NOT_FOUND",
    });

    // MCP servers: a real one (server-everything, installed by `make mcp-servers`)
    const everything = fileURLToPath(
      new URL(
        "../../../tests/mcp_servers/node_modules/@modelcontextprotocol/server-everything/dist/index.js",
        import.meta.url,
      ),
    );
    const becameReady = nextEvent(
      client,
      "mcp.server.updated",
      (e) => e.server.name === "Everything" && e.server.state === "ready",
      60_000,
    );
    const added = await call("mcp.servers.add", {
      name: "Everything",
      transport: "stdio",
      command: "node",
      args: [everything, "stdio"],
      env: { EVERYTHING_TOKEN: "not-shown" },
    });
    expect(added.server).toMatchObject({ slug: "everything", envNames: ["EVERYTHING_TOKEN"], approval: "always" });
    const serverId = added.server.id;
    const ready = await becameReady;
    expect(ready.server.tools.map((t) => t.name)).toContain("everything__echo");
    expect((await call("mcp.servers.list", {})).servers.map((s) => s.id)).toEqual([serverId]);
    const mcpTool = (await client.request("tools.list", {})).tools.find((t) => t.name === "everything__echo");
    expect(mcpTool).toMatchObject({ executor: "mcp", serverId, requiresApproval: true });
    const policy = await call("mcp.servers.update", { id: serverId, approval: "never" });
    expect(policy.server.tools.find((t) => t.name === "everything__echo")?.requiresApproval).toBe(false);
    const prompts = await call("mcp.prompts.list", { serverId });
    expect(prompts.prompts.map((p) => p.name)).toContain("args-prompt");
    expect(await call("mcp.prompts.get", { serverId, name: "args-prompt", arguments: { city: "Porto" } })).toMatchObject({
      text: "What's weather in Porto?",
    });
    const resources = await call("mcp.resources.list", { serverId });
    const doc = resources.resources.find((r) => r.uri.endsWith("architecture.md"))!;
    const read = await call("mcp.resources.read", { serverId, uri: doc.uri });
    expect(read.contents[0]?.text).toContain("Architecture");
    expect(await call("mcp.servers.remove", { id: serverId })).toEqual({});
    await expect(client.request("mcp.prompts.list", { serverId })).rejects.toMatchObject({ reason: "NOT_FOUND" });

    expect(METHOD_NAMES.filter((m) => !called.has(m))).toEqual([]);
  });

  it("received only frames that validate against schema/", () => {
    expect(wire.violations).toEqual([]);
    expect(wire.validatedCount).toBe(wire.inbound.length);
    const kinds = new Set(wire.inbound.map((f) => ("method" in f ? "event" : "error" in f ? "error" : "result")));
    expect(kinds).toEqual(new Set(["event", "result", "error"]));
    expect(wire.events().length).toBeGreaterThan(50);
  });

  it("delivered every event once, in seq order, to onEvent", () => {
    expect(events.length).toBeGreaterThan(50);
    events.forEach((event, i) => {
      if (i > 0) expect(event.seq).toBe(events[i - 1]!.seq + 1);
    });
    expect(client.lastSeq).toBe(events.at(-1)!.seq);
  });
});

describe("errors", () => {
  it("maps error answers to RpcError with code, reason and data", async () => {
    const error = await client.request("conversations.get", { conversationId: "nope" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RpcError);
    expect(error).toMatchObject({ code: -32001, reason: "NOT_FOUND", method: "conversations.get" });
    expect((error as RpcError).data).toMatchObject({ kind: "conversation", id: "nope" });

    const invalid = await client
      .request("conversations.list", { limit: "3" as unknown as number })
      .catch((e: unknown) => e as RpcError);
    expect(invalid).toMatchObject({ code: -32602, reason: "INVALID_PARAMS" });

    const conflict = await client
      .request("tools.register", { name: "calculate", description: "mine", inputSchema: {} })
      .catch((e: unknown) => e as RpcError);
    expect(conflict).toMatchObject({ code: -32002, reason: "CONFLICT" });
  });

  it("rejects requests over the in-flight limit with reason OVERLOADED; the rest succeed", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 600 }, () => client.request("conversations.list", { limit: 1 })),
    );
    const rejected = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    expect(rejected.length).toBeGreaterThan(0);
    for (const error of rejected) expect(error).toMatchObject({ name: "RpcError", code: -32006, reason: "OVERLOADED" });
    expect(results.filter((r) => r.status === "fulfilled").length).toBeGreaterThanOrEqual(256);
    expect(client.state).toBe("open");
  });

  it("NOT_INITIALIZED is what a raw socket gets before initialize (the client always initializes first)", async () => {
    const raw = new WS(`${env.url}/?token=${encodeURIComponent(env.token)}`);
    await new Promise((resolve) => raw.once("open", resolve));
    const answer = new Promise<string>((resolve) => raw.once("message", (data) => resolve(String(data))));
    raw.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "settings.get", params: {} }));
    expect(JSON.parse(await answer)).toMatchObject({ error: { data: { reason: "NOT_INITIALIZED" } } });
    raw.close();
  });
});

describe("typed events", () => {
  it("on(type) gets only that type, typed, and unsubscribes", async () => {
    const { conversationId } = await setupChat(client, fake, "typed events");
    const deltas: number[] = [];
    const off = client.on("assistant.stream.delta", (event) => {
      expect(event.type).toBe("assistant.stream.delta");
      deltas.push(event.index);
    });
    await fake.script({ chunks: ["a", "b", "c"] });
    const sent = await client.request("chat.send", { conversationId, content: "abc" });
    const done = await nextEvent(client, "assistant.stream.completed", (e) => e.messageId === sent.assistantMessageId);
    expect(done.message.content).toBe("abc");
    // one delta per read of the provider's stream: 1 to 3 here, numbered from 0
    expect(deltas.length).toBeGreaterThanOrEqual(1);
    expect(deltas.length).toBeLessThanOrEqual(3);
    expect(deltas).toEqual(deltas.map((_, i) => i));
    const seen = [...deltas];
    off();
    const again = await client.request("chat.send", { conversationId, content: "again" });
    await nextEvent(client, "assistant.stream.completed", (e) => e.messageId === again.assistantMessageId);
    expect(deltas).toEqual(seen);
  });
});
