/**
 * Starts the bundled sidecar from a Tauri webview through the shell API's `Command`.
 *
 * The caller makes the command (`Command` from `@tauri-apps/api/shell` in Tauri 1 or from
 * `@tauri-apps/plugin-shell` in Tauri 2), so this package depends on neither: the types
 * below are the structural subset both versions share. How the binary is bundled (a
 * resource folder and a scoped command, not `externalBin`) is in docs/tauri.md. The sidecar gets
 * `serve --watch-stdin`: Tauri keeps the child's stdin piped, so if the app dies the pipe
 * closes and the sidecar exits by itself. The token travels in the environment, never on
 * the command line.
 */
import { assertProtocolVersion } from "../client/errors.js";
import { newToken, parseReadyLine, type ReadyLine } from "./ready.js";

/** Tauri's `TerminatedPayload`. */
export interface TauriTerminated {
  code: number | null;
  signal: number | null;
}

/** Tauri's `Child` (both versions). */
export interface TauriChild {
  readonly pid: number;
  write(data: string): Promise<void>;
  kill(): Promise<void>;
}

/** Tauri's output `EventEmitter` (`command.stdout`, `command.stderr`). */
export interface TauriOutput {
  on(event: "data", listener: (data: string) => void): unknown;
}

/** A Tauri `Command` instance. */
export interface TauriCommand {
  readonly stdout: TauriOutput;
  readonly stderr: TauriOutput;
  on(event: "close", listener: (payload: TauriTerminated) => void): unknown;
  on(event: "error", listener: (error: string) => void): unknown;
  spawn(): Promise<TauriChild>;
}

/** The `Command` class: only its static `sidecar` is used. */
export interface TauriCommandClass {
  sidecar(
    program: string,
    args?: string | string[],
    options?: { cwd?: string; env?: Record<string, string> },
  ): TauriCommand;
}

/**
 * What to spawn: an `externalBin` sidecar. Only for a one-file build you make yourself:
 * `make dist` builds a folder (the executable needs its `_internal/` beside it, which
 * `externalBin` does not copy), which takes `TauriScopedSource`. See docs/tauri.md.
 */
export interface TauriSidecarSource {
  /** `Command` from `@tauri-apps/api/shell` (Tauri 1) or `@tauri-apps/plugin-shell` (Tauri 2). */
  Command: TauriCommandClass;
  /** The `externalBin` entry (default `binaries/sidecar`). */
  program?: string;
}

/**
 * ... or a command of the shell scope: the way to start `make dist`'s one-folder build,
 * shipped as a resource (docs/tauri.md). Tauri 2
 * `(args, options) => Command.create("sidecar", args, options)`, Tauri 1
 * `(args, options) => new Command("sidecar", args, options)`, with the scope entry's
 * `cmd` pointing into `$RESOURCE` and its `args` admitting `serve --watch-stdin` and then
 * exactly the `args` given here.
 */
export interface TauriScopedSource {
  create: (args: string[], options: { env: Record<string, string> }) => TauriCommand;
}

export type TauriLaunchOptions = (TauriSidecarSource | TauriScopedSource) & {
  /** Extra `sidecar serve` flags, e.g. `["--data-dir", dir]`. Allow them in the shell scope. */
  args?: string[];
  /** More environment for the sidecar (e.g. provider API keys). */
  env?: Record<string, string>;
  /** The launch token; a fresh random one by default. */
  token?: string;
  /** How long to wait for the ready line (default 15 s); then the child is killed. */
  readyTimeoutMs?: number;
  /** The sidecar's log lines (stderr). */
  onStderr?: (line: string) => void;
  /**
   * Where to listen for `pagehide` to kill the sidecar (a reload or a closed window would
   * otherwise leave it running until the app exits). Default: `window` when there is one;
   * `null` turns it off.
   */
  unloadTarget?: Pick<EventTarget, "addEventListener" | "removeEventListener"> | null;
};

export interface TauriSidecar {
  /** The ready line: `url` and `token` are what `SidecarClient` needs. */
  ready: ReadyLine;
  child: TauriChild;
  /** Resolves once the process is gone. */
  exited: Promise<TauriTerminated>;
  /** Kills the sidecar and waits until it is gone. */
  stop(): Promise<TauriTerminated>;
}

/** Spawns the sidecar and resolves once its ready line is read. */
export async function launchTauri(options: TauriLaunchOptions): Promise<TauriSidecar> {
  const token = options.token ?? newToken();
  const args = ["serve", "--watch-stdin", ...(options.args ?? [])];
  const spawnOptions = { env: { ...options.env, SIDECAR_TOKEN: token } };
  const command =
    "create" in options
      ? options.create(args, spawnOptions)
      : options.Command.sidecar(options.program ?? "binaries/sidecar", args, spawnOptions);

  let onExit!: (payload: TauriTerminated) => void;
  const exited = new Promise<TauriTerminated>((resolve) => {
    onExit = resolve;
  });
  let gone: TauriTerminated | null = null;
  const readyLine = new Promise<ReadyLine>((resolve, reject) => {
    const lines = new LineReader((line) => {
      try {
        resolve(parseReadyLine(line));
      } catch (error) {
        reject(error);
      }
    });
    command.stdout.on("data", (data) => lines.push(data));
    command.on("close", (payload) => {
      gone = payload;
      onExit(payload);
      reject(new Error(`sidecar exited (code ${payload.code}, signal ${payload.signal}) before its ready line`));
    });
    command.on("error", (error) => reject(new Error(`sidecar failed: ${error}`)));
  });
  command.stderr.on("data", (data) => {
    for (const line of String(data).split(/\r?\n/)) if (line !== "") options.onStderr?.(line);
  });

  const child = await command.spawn();
  const kill = async (): Promise<TauriTerminated> => {
    if (gone === null) await child.kill().catch(() => undefined);
    return exited;
  };

  const timeoutMs = options.readyTimeoutMs ?? 15_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`sidecar printed no ready line within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  let ready: ReadyLine;
  try {
    ready = await Promise.race([readyLine, timeout]);
    assertProtocolVersion(ready.protocolVersion);
  } catch (error) {
    await kill();
    throw error;
  } finally {
    clearTimeout(timer);
  }

  const target = options.unloadTarget === undefined ? defaultUnloadTarget() : options.unloadTarget;
  const onUnload = () => void kill();
  target?.addEventListener("pagehide", onUnload);
  void exited.then(() => target?.removeEventListener("pagehide", onUnload));

  return { ready, child, exited, stop: kill };
}

function defaultUnloadTarget(): TauriLaunchOptions["unloadTarget"] {
  const scope = globalThis as { window?: Pick<EventTarget, "addEventListener" | "removeEventListener"> };
  return scope.window ?? null;
}

/**
 * Splits stdout into lines whatever Tauri hands over: Tauri 1 emits each line without its
 * newline, Tauri 2 may emit it with the newline, or in pieces.
 */
class LineReader {
  private buffer = "";
  private done = false;

  constructor(private readonly onLine: (line: string) => void) {}

  push(data: string): void {
    if (this.done) return;
    this.buffer += String(data);
    let newline: number;
    while ((newline = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, newline).replace(/\r$/, "");
      this.buffer = this.buffer.slice(newline + 1);
      if (line.trim() !== "") return this.emit(line);
    }
    if (isCompleteJson(this.buffer)) this.emit(this.buffer);
  }

  private emit(line: string): void {
    this.done = true;
    this.buffer = "";
    this.onLine(line);
  }
}

function isCompleteJson(text: string): boolean {
  if (!text.trimStart().startsWith("{")) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
