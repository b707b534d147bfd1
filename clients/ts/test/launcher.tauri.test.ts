/**
 * The Tauri launcher, driven through a test double of Tauri's shell `Command` class (both
 * versions' event shapes) that launches the real sidecar.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { WebSocket as WS } from "ws";
import { ProtocolMismatchError, SidecarClient } from "../src/index.js";
import { launchTauri } from "../src/launchers/tauri.js";
import { PYTHON, REPO_ROOT } from "./support/env.js";
import { tauriShell } from "./support/tauri.js";

const dataDir = mkdtempSync(join(tmpdir(), "sidecar-tauri-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const realSidecar = () => ({ command: PYTHON, args: ["-m", "sidecar"], cwd: REPO_ROOT });
const node = (script: string) => () => ({ command: process.execPath, args: ["-e", script] });
const fakeReady = (protocolVersion: number) =>
  node(
    `process.stdout.write(JSON.stringify({type:"ready",url:"ws://127.0.0.1:1",port:1,` +
      `token:process.env.SIDECAR_TOKEN,pid:process.pid,protocolVersion:${protocolVersion},version:"9.0.0"})+"\\n");` +
      `setInterval(()=>{},1000)`,
  );
const args = ["--data-dir", dataDir, "--log-level", "info"];

describe.each([1, 2] as const)("Tauri %i shell API", (version) => {
  it("spawns `serve --watch-stdin` with the token in env, reads the ready line, and a client connects", async () => {
    const shell = tauriShell(version, realSidecar);
    const logs: string[] = [];
    const sidecar = await launchTauri({ Command: shell.Command, args, onStderr: (l) => logs.push(l), unloadTarget: null });

    const spawned = shell.spawned[0]!;
    expect(spawned.program).toBe("binaries/sidecar");
    expect(spawned.args).toEqual(["serve", "--watch-stdin", ...args]);
    expect(spawned.env.SIDECAR_TOKEN).toBe(sidecar.ready.token);
    expect(sidecar.ready.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(spawned.args.join(" ")).not.toContain(sidecar.ready.token);
    expect(sidecar.child.pid).toBe(spawned.child.pid);

    const client = new SidecarClient({ url: sidecar.ready.url, token: sidecar.ready.token, WebSocket: WS });
    const init = await client.connect();
    expect(init.serverInfo.name).toBe("chat-sidecar");
    expect((await client.request("settings.get", {})).settings).toHaveProperty("providerRoutes");
    await client.close();

    const exit = await sidecar.stop();
    expect(exit).toEqual({ code: null, signal: 9 });
    expect(spawned.child.signalCode).toBe("SIGKILL");
    expect(logs.length).toBeGreaterThan(0);
  });

  it("spawns a scoped command instead (the one-folder build shipped as a resource)", async () => {
    const shell = tauriShell(version, realSidecar);
    // In the app: (a, o) => Command.create("sidecar", a, o) (Tauri 2), new Command("sidecar", a, o) (Tauri 1).
    const sidecar = await launchTauri({
      create: (a, o) => shell.Command.sidecar("sidecar", a, o),
      args,
      unloadTarget: null,
    });
    const spawned = shell.spawned[0]!;
    expect(spawned.program).toBe("sidecar");
    expect(spawned.args).toEqual(["serve", "--watch-stdin", ...args]);
    expect(spawned.env.SIDECAR_TOKEN).toBe(sidecar.ready.token);
    spawned.child.stdin!.end();
    expect(await sidecar.exited).toEqual({ code: 0, signal: null });
  });

  it("the sidecar exits by itself when its stdin closes (the app died)", async () => {
    const shell = tauriShell(version, realSidecar);
    const sidecar = await launchTauri({ Command: shell.Command, args, unloadTarget: null });
    shell.spawned[0]!.child.stdin!.end();
    expect(await sidecar.exited).toEqual({ code: 0, signal: null });
  });

  it("rejects when the sidecar exits before its ready line, passing its stderr on", async () => {
    const shell = tauriShell(version, realSidecar);
    const logs: string[] = [];
    const error = await launchTauri({
      Command: shell.Command,
      args: ["--port", "70000"],
      onStderr: (l) => logs.push(l),
      unloadTarget: null,
    }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe("sidecar exited (code 2, signal null) before its ready line");
    expect(logs.join("\n")).toMatch(/sidecar serve: error: argument --port/);
  });

  it("kills a sidecar that prints no ready line in time", async () => {
    const shell = tauriShell(version, node("setInterval(()=>{},1000)"));
    await expect(
      launchTauri({ Command: shell.Command, readyTimeoutMs: 300, unloadTarget: null }),
    ).rejects.toThrow("sidecar printed no ready line within 300 ms");
    expect(shell.spawned[0]!.child.signalCode).toBe("SIGKILL");
  });

  it("refuses a sidecar of another protocol version and kills it", async () => {
    const shell = tauriShell(version, fakeReady(2));
    const error = await launchTauri({ Command: shell.Command, unloadTarget: null }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolMismatchError);
    expect((error as Error).message).toContain("protocol version 2 but this client speaks version 1");
    expect(shell.spawned[0]!.child.signalCode).toBe("SIGKILL");
  });

  it("kills the sidecar when the page goes away (pagehide)", async () => {
    const shell = tauriShell(version, realSidecar);
    const page = new EventTarget();
    const sidecar = await launchTauri({ Command: shell.Command, args, unloadTarget: page });
    page.dispatchEvent(new Event("pagehide"));
    expect(await sidecar.exited).toEqual({ code: null, signal: 9 });
  });
});
