import { describe, expect, it } from "vitest";
import { ProtocolMismatchError } from "../src/index.js";
import { launchNode } from "../src/launchers/node.js";
import { startFake, startSidecar } from "./support/env.js";

describe("node launcher", () => {
  it("reads the ready line, passes the token, and the sidecar exits when stdin closes", async () => {
    const env = await startSidecar({ token: "launcher-test-token-0123456789" });
    expect(env.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(env.token).toBe("launcher-test-token-0123456789");
    expect(env.sidecar.ready.protocolVersion).toBe(1);
    env.sidecar.child.stdin?.end();
    expect(await env.sidecar.exited).toBe(0);
    await env.stop();
  });

  it("refuses and kills a sidecar of another protocol version", async () => {
    const script =
      `process.stdout.write(JSON.stringify({type:"ready",url:"ws://127.0.0.1:1",port:1,` +
      `token:process.env.SIDECAR_TOKEN,pid:process.pid,protocolVersion:2,version:"9.0.0"})+"\\n");` +
      `setInterval(()=>{},1000)`;
    const error = await launchNode({ command: process.execPath, args: ["-e", script, "--"] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolMismatchError);
    expect(error).toMatchObject({ sidecarVersion: 2, clientVersion: 1 });
  });

  it("starts a scriptable fake provider", async () => {
    const fake = await startFake("openai");
    await fake.script({ text: "scripted" });
    const response = await fetch(`${fake.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer k" },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
    });
    const body = (await response.json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0]?.message.content).toBe("scripted");
    expect((await fake.requests()).length).toBe(1);
    await fake.stop();
  });
});
