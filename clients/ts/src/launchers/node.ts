/**
 * Starts a sidecar as a child process from Node (tests, scripts, Electron-style hosts).
 *
 * The child gets `--watch-stdin` and keeps our end of its stdin open: if this process dies,
 * the pipe closes and the sidecar exits by itself, so no sidecar outlives its parent.
 * The token travels in the environment, never on the command line (visible in `ps`).
 * A sidecar of another major protocol version is killed and refused (ProtocolMismatchError).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { assertProtocolVersion } from "../client/errors.js";
import { newToken, parseReadyLine, type ReadyLine } from "./ready.js";

export interface NodeLaunchOptions {
  /** The executable: the packaged sidecar binary, or a Python interpreter. */
  command: string;
  /** Arguments before our own; e.g. `["-m", "sidecar", "serve"]` or `["serve"]`. */
  args?: string[];
  /** Extra `sidecar serve` flags (e.g. `--data-dir`, `--allow-origin`). */
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** The launch token; a fresh random one by default. */
  token?: string;
  /** How long to wait for the ready line (default 15 s). */
  readyTimeoutMs?: number;
  /** Where the sidecar's stderr (its logs) goes: inherited by default. */
  stderr?: "inherit" | "ignore" | "pipe";
}

export interface NodeSidecar {
  ready: ReadyLine;
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) once the process is gone. */
  exited: Promise<number | null>;
  /** Asks the sidecar to stop (closes stdin, then SIGTERM, then SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
}

export async function launchNode(options: NodeLaunchOptions): Promise<NodeSidecar> {
  const token = options.token ?? newToken();
  const child = spawn(
    options.command,
    [...(options.args ?? []), "--watch-stdin", ...(options.extraArgs ?? [])],
    {
      cwd: options.cwd,
      env: { ...process.env, ...options.env, SIDECAR_TOKEN: token },
      stdio: ["pipe", "pipe", options.stderr ?? "inherit"],
    },
  );
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
  const ready = await readReady(child, options.readyTimeoutMs ?? 15_000, exited);
  try {
    assertProtocolVersion(ready.protocolVersion);
  } catch (error) {
    child.kill("SIGKILL");
    await exited;
    throw error;
  }

  const stop = async (graceMs = 5_000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.stdin?.end();
    const timer = setTimeout(() => child.kill("SIGTERM"), graceMs / 2);
    const killer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
      clearTimeout(killer);
    }
  };
  return { ready, child, exited, stop };
}

function readReady(
  child: ChildProcess,
  timeoutMs: number,
  exited: Promise<number | null>,
): Promise<ReadyLine> {
  return new Promise<ReadyLine>((resolve, reject) => {
    if (child.stdout === null) return reject(new Error("sidecar stdout is not a pipe"));
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => {
      finish();
      child.kill("SIGKILL");
      reject(new Error(`sidecar printed no ready line within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      lines.removeAllListeners("line");
    };
    lines.once("line", (line) => {
      finish();
      try {
        resolve(parseReadyLine(line));
      } catch (error) {
        child.kill("SIGKILL");
        reject(error);
      }
    });
    child.once("error", (error) => {
      finish();
      reject(new Error(`cannot start sidecar: ${error.message}`));
    });
    void exited.then((code) => {
      finish();
      reject(new Error(`sidecar exited with code ${code} before its ready line`));
    });
  });
}
