/**
 * The TypeScript examples of the package README and of the guides that show the package
 * (docs/tauri.md, docs/migration.md) compile against it (strict), and their JSON config
 * snippets parse, so the docs cannot drift from the API. Free names an example only uses
 * (the app's own functions, the Tauri shell plugin) are declared in a prelude; everything
 * else must resolve. Svelte components compile: with Svelte 5 always, and with Svelte 4 too
 * unless they use runes; the script of a runes component (`lang="ts"`) is type-checked
 * with the TypeScript examples.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { compile as compile5 } from "svelte/compiler";
import { afterAll, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const workDir = join(root, "node_modules", ".readme-check");

// A script (no import/export), so these are ambient declarations.
const PRELUDE = `
declare module "@tauri-apps/plugin-shell" {
  type Tauri = typeof import("@chat-sidecar/client/tauri");
  type Create = Extract<Parameters<Tauri["launchTauri"]>[0], { create: unknown }>["create"];
  export const Command: import("@chat-sidecar/client/tauri").TauriCommandClass & {
    create(program: string, ...rest: Parameters<Create>): ReturnType<Create>;
  };
}
declare module "@tauri-apps/api/path" {
  export function appDataDir(): Promise<string>;
  export function join(...paths: string[]): Promise<string>;
}
declare module "@tauri-apps/api/shell" {
  type Made = import("@chat-sidecar/client/tauri").TauriCommand & {
    execute(): Promise<{ code: number | null; signal: number | null; stdout: string; stderr: string }>;
  };
  export const Command: import("@chat-sidecar/client/tauri").TauriCommandClass & {
    new (program: string, args?: string | string[], options?: { cwd?: string; env?: Record<string, string> }): Made;
  };
}
declare function append(messageId: string, text: string): void;
declare function reloadSnapshots(): void;
// Svelte 5's runes, as the compiler sees them (for the scripts of runes components).
declare function $state<T>(initial: T): T;
declare function $derived<T>(value: T): T;
declare function $effect(run: () => void | (() => void)): void;
declare function $props<T>(): T;
`;

const RUNES = /\$(state|derived|effect|props)\b/;
const SCRIPT_TS = /<script lang="ts">\n([\s\S]*?)<\/script>/;

// Svelte 4 is an aliased devDependency (its types claim "svelte/*" too): loaded untyped.
type Svelte4Compiler = { compile(source: string, options: { filename: string }): { warnings: { code: string }[] } };
const { compile: compile4 } = (await import(/* @vite-ignore */ `svelte4/${"compiler"}`)) as Svelte4Compiler;

const DOCS = ["README.md", "../../docs/tauri.md", "../../docs/migration.md"];

function blocks(language: string): { doc: string; code: string }[] {
  return DOCS.flatMap((doc) => {
    const text = readFileSync(join(root, doc), "utf8");
    const fence = new RegExp("```" + language + "\\n([\\s\\S]*?)```", "g");
    return [...text.matchAll(fence)].map((match) => ({ doc, code: match[1] ?? "" }));
  });
}

it("every json snippet in the docs parses, and both Tauri versions scope the same commands", () => {
  const snippets = blocks("json");
  expect(snippets.length).toBeGreaterThanOrEqual(3);
  for (const { doc, code } of snippets) expect(() => JSON.parse(code), doc).not.toThrow();
  const tauri = snippets.filter((s) => s.doc.endsWith("tauri.md")).map((s) => JSON.parse(s.code) as Record<string, any>);
  // Tauri 1: the allowlist's scope; Tauri 2: the capability's shell permissions.
  const v1 = tauri.find((c) => c.tauri?.allowlist)?.tauri.allowlist.shell.scope as { name: string; cmd: string }[];
  const v2 = tauri.find((c) => c.permissions)?.permissions.flatMap((p: { allow?: unknown[] }) => p.allow ?? []);
  expect(v1.map((e) => e.name)).toEqual(["sidecar", "sidecar-import"]);
  expect(v2).toEqual(v1);
  for (const entry of v1) expect(entry.cmd).toBe("$RESOURCE/sidecar/sidecar");
  // The serve entry admits exactly what the launcher passes: serve --watch-stdin, then the guide's args.
  const serve = v1[0] as unknown as { args: (string | { validator: string })[] };
  expect(serve.args.slice(0, 2)).toEqual(["serve", "--watch-stdin"]);
  const origin = serve.args.at(-1) as { validator: string };
  for (const ok of ["tauri://localhost", "https://tauri.localhost", "http://tauri.localhost", "http://localhost:1420"]) {
    expect(new RegExp(origin.validator).test(ok), ok).toBe(true);
  }
  for (const bad of ["http://localhost:5173", "https://evil.example", "tauri://localhost.evil", "http://localhost:14200"]) {
    expect(new RegExp(origin.validator).test(bad), bad).toBe(false);
  }
  // The examples pass the args in the scope's order.
  const launch = readFileSync(join(root, "../../docs/tauri.md"), "utf8").match(/args: \[("--data-dir".*)\]/)?.[1];
  expect(launch?.split(", ").map((a) => (a.startsWith('"') ? JSON.parse(a) : null))).toEqual(
    serve.args.slice(2).map((a) => (typeof a === "string" ? a : null)),
  );
});

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

it("every svelte component in the docs compiles, with Svelte 4 too unless it uses runes", () => {
  const components = blocks("svelte");
  expect(components.filter((c) => RUNES.test(c.code)).length).toBeGreaterThanOrEqual(1);
  expect(components.filter((c) => !RUNES.test(c.code)).length).toBeGreaterThanOrEqual(1);
  components.forEach(({ doc, code }, i) => {
    const filename = `Example${i + 1}.svelte`;
    const runes = RUNES.test(code);
    const five = compile5(code, { filename, generate: "client", ...(runes ? { runes: true } : {}) });
    expect(five.warnings.map((w) => w.code), `${doc} ${filename} (Svelte 5)`).toEqual([]);
    if (runes) return;
    // Svelte 4 has no TypeScript of its own: strip the types as svelte-preprocess would.
    const js = code.replace(SCRIPT_TS, (_, script: string) => {
      const out = ts.transpileModule(script, {
        compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, verbatimModuleSyntax: true },
      });
      return `<script>\n${out.outputText}</script>`;
    });
    const four = compile4(js, { filename });
    expect(four.warnings.map((w) => w.code), `${doc} ${filename} (Svelte 4)`).toEqual([]);
  });
});

it("every ts example in the docs type-checks", () => {
  const runesScripts = blocks("svelte")
    .filter((b) => RUNES.test(b.code))
    .flatMap((b) => b.code.match(SCRIPT_TS)?.[1] ?? []);
  const examples = [...blocks("ts").map((b) => b.code), ...runesScripts];
  expect(examples.length).toBeGreaterThanOrEqual(8);
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  writeFileSync(join(workDir, "prelude.d.ts"), PRELUDE);
  const files = examples.map((code, i) => {
    const file = `example${i + 1}.ts`;
    writeFileSync(join(workDir, file), `${code}\nexport {};\n`);
    return file;
  });
  const src = (path: string) => [join(root, "src", path)];
  writeFileSync(
    join(workDir, "tsconfig.json"),
    JSON.stringify({
      extends: join(root, "tsconfig.base.json"),
      compilerOptions: {
        noEmit: true,
        types: ["node"],
        typeRoots: [join(root, "node_modules", "@types")],
        paths: {
          "@chat-sidecar/client": src("index.ts"),
          "@chat-sidecar/client/svelte": src("svelte.ts"),
          "@chat-sidecar/client/tauri": src("launchers/tauri.ts"),
          "@chat-sidecar/client/node": src("launchers/node.ts"),
        },
      },
      files: ["prelude.d.ts", ...files],
    }),
  );
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  let output = "";
  try {
    execFileSync(process.execPath, [tsc, "-p", join(workDir, "tsconfig.json")], { encoding: "utf8" });
  } catch (error) {
    output = String((error as { stdout?: string }).stdout ?? error);
  }
  expect(output).toBe("");
});
