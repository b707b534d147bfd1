/**
 * A real sidecar process plus a real fake provider process for the TypeScript tests.
 *
 * Both are started the way an app starts them: the sidecar through this package's Node
 * launcher (so the launcher is under test too), the fake through `python -m sidecar.dev.fakes`.
 * The fake is scripted over its HTTP control endpoint (`/_fake/scripts`).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { launchNode, type NodeSidecar } from "../../src/launchers/node.js";

export const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
export const PYTHON = process.env.SIDECAR_PYTHON ?? join(REPO_ROOT, ".venv", "bin", "python");

export interface FakeProcess {
  baseUrl: string;
  root: string;
  kind: string;
  stop(): Promise<void>;
  /** Queues scripts (the fake's Script fields, snake_case) for the next requests. */
  script(...scripts: Record<string, unknown>[]): Promise<void>;
  requests(): Promise<{ path: string; body: Record<string, unknown> }[]>;
}

export async function startFake(
  kind = "openai-compatible",
  extraArgs: string[] = [],
): Promise<FakeProcess> {
  const child = spawn(PYTHON, ["-m", "sidecar.dev.fakes", "--kind", kind, ...extraArgs], {
    cwd: REPO_ROOT,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`fake exited with ${code}`)));
  });
  const ready = JSON.parse(line) as { baseUrl: string };
  const root = ready.baseUrl.replace(/\/v1$/, "");
  return {
    baseUrl: ready.baseUrl,
    root,
    kind,
    async stop() {
      if (child.exitCode !== null) return;
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await gone;
    },
    async script(...scripts) {
      const response = await fetch(`${root}/_fake/scripts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ scripts }),
      });
      if (!response.ok) throw new Error(`fake refused scripts: ${await response.text()}`);
    },
    async requests() {
      const response = await fetch(`${root}/_fake/requests`);
      return ((await response.json()) as { requests: never[] }).requests;
    },
  };
}

export interface SidecarEnv {
  sidecar: NodeSidecar;
  url: string;
  token: string;
  dataDir: string;
  /** Restarts the sidecar on the same port, token and data dir (a crash or an update). */
  restart(options?: { kill?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export async function startSidecar(
  options: { dataDir?: string; extraArgs?: string[]; port?: number; token?: string } = {},
): Promise<SidecarEnv> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "sidecar-ts-"));
  const launch = (port?: number, token?: string) =>
    launchNode({
      command: PYTHON,
      args: ["-m", "sidecar", "serve"],
      extraArgs: [
        "--data-dir",
        dataDir,
        "--log-level",
        "warning",
        ...(port === undefined ? [] : ["--port", String(port)]),
        ...(options.extraArgs ?? []),
      ],
      cwd: REPO_ROOT,
      ...(token === undefined ? {} : { token }),
      stderr: "inherit",
    });
  const env: SidecarEnv = {
    sidecar: await launch(options.port, options.token),
    get url() {
      return env.sidecar.ready.url;
    },
    get token() {
      return env.sidecar.ready.token;
    },
    dataDir,
    async restart({ kill = false } = {}) {
      const { port, token } = env.sidecar.ready;
      if (kill) {
        env.sidecar.child.kill("SIGKILL");
        await env.sidecar.exited;
      } else {
        await env.sidecar.stop();
      }
      env.sidecar = await launch(port, token);
    },
    async stop() {
      await env.sidecar.stop();
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return env;
}
