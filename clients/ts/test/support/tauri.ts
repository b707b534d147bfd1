/**
 * A test double of Tauri's shell `Command` class, over node:child_process, reproducing the
 * event API of both versions: `Command.sidecar(program, args, {env})`, `stdout`/`stderr`
 * emitters with "data", the command's "close" ({code, signal}) and "error" events, and
 * `spawn()` resolving a `Child` with `pid`, `write()` and `kill()` (SIGKILL, as Tauri does).
 *
 * Tauri 1 emits each stdout line without its newline; the Tauri 2 double emits raw chunks
 * (newlines included, possibly split), the harder case for a line reader.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";
import { createInterface } from "node:readline";

type Listener = (payload: never) => void;

/** Tauri's `EventEmitter`: `on` returns the emitter. */
class Emitter {
  private readonly listeners = new Map<string, Listener[]>();
  on(event: string, listener: (payload: never) => void): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }
  emit(event: string, payload: unknown): void {
    for (const listener of this.listeners.get(event) ?? []) (listener as (p: unknown) => void)(payload);
  }
}

export interface Spawned {
  program: string;
  args: string[];
  env: Record<string, string>;
  child: ChildProcess;
}

/**
 * `resolve` maps the sidecar name (the `externalBin` entry) to the real executable, the way
 * Tauri finds `binaries/sidecar-<target triple>` next to the app. Returns the `Command`
 * class to pass to `launchTauri`, and every process it spawned with what it was given.
 */
export function tauriShell(
  version: 1 | 2,
  resolve: (program: string) => { command: string; args: string[]; cwd?: string },
) {
  const spawned: Spawned[] = [];

  class Child {
    constructor(
      readonly pid: number,
      private readonly process: ChildProcess,
    ) {}
    async write(data: string | Uint8Array): Promise<void> {
      this.process.stdin?.write(data);
    }
    async kill(): Promise<void> {
      this.process.kill("SIGKILL");
    }
  }

  class Command extends Emitter {
    readonly stdout = new Emitter();
    readonly stderr = new Emitter();
    private readonly args: string[];

    private constructor(
      private readonly program: string,
      args: string | string[] = [],
      private readonly options: { cwd?: string; env?: Record<string, string> } = {},
    ) {
      super();
      this.args = typeof args === "string" ? [args] : args;
    }

    static sidecar(program: string, args?: string | string[], options?: { cwd?: string; env?: Record<string, string> }) {
      return new Command(program, args, options);
    }

    async spawn(): Promise<Child> {
      const target = resolve(this.program);
      const env = this.options.env ?? {};
      const child = spawn(target.command, [...target.args, ...this.args], {
        cwd: this.options.cwd ?? target.cwd,
        env: { ...process.env, ...env },
        stdio: ["pipe", "pipe", "pipe"],
      });
      spawned.push({ program: this.program, args: this.args, env, child });
      if (version === 1) {
        createInterface({ input: child.stdout! }).on("line", (line) => this.stdout.emit("data", line));
        createInterface({ input: child.stderr! }).on("line", (line) => this.stderr.emit("data", line));
      } else {
        child.stdout!.on("data", (chunk: Buffer) => {
          const text = chunk.toString();
          const half = Math.ceil(text.length / 2); // split, to exercise reassembly
          this.stdout.emit("data", text.slice(0, half));
          this.stdout.emit("data", text.slice(half));
        });
        child.stderr!.on("data", (chunk: Buffer) => this.stderr.emit("data", chunk.toString()));
      }
      child.on("close", (code, signal) => {
        this.emit("close", { code, signal: signal === null ? null : constants.signals[signal] });
      });
      await new Promise<void>((ok, fail) => {
        child.once("spawn", ok);
        child.once("error", (error) => {
          this.emit("error", error.message);
          fail(error);
        });
      });
      return new Child(child.pid!, child);
    }
  }

  return { Command, spawned };
}
