/**
 * The TypeScript examples of the package README and of the guides that show the package
 * (docs/tauri.md, docs/migration.md) compile against it (strict), and their JSON config
 * snippets parse, so the docs cannot drift from the API. Free names an example only uses
 * (the app's own functions, the Tauri shell plugin) are declared in a prelude; everything
 * else must resolve.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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
declare function append(messageId: string, text: string): void;
declare function reloadSnapshots(): void;
`;

const DOCS = ["README.md", "../../docs/tauri.md", "../../docs/migration.md"];

function blocks(language: string): { doc: string; code: string }[] {
  return DOCS.flatMap((doc) => {
    const text = readFileSync(join(root, doc), "utf8");
    const fence = new RegExp("```" + language + "\\n([\\s\\S]*?)```", "g");
    return [...text.matchAll(fence)].map((match) => ({ doc, code: match[1] ?? "" }));
  });
}

it("every json snippet in the docs parses, and both Tauri versions scope the same command", () => {
  const snippets = blocks("json");
  expect(snippets.length).toBeGreaterThanOrEqual(6);
  for (const { doc, code } of snippets) expect(() => JSON.parse(code), doc).not.toThrow();
  const tauri = snippets.filter((s) => s.doc.endsWith("tauri.md")).map((s) => s.code).join("\n");
  expect(tauri.match(/"cmd": "\$RESOURCE\/sidecar\/sidecar"/g)?.length).toBe(2);
});

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

it("every ts example in the docs type-checks", () => {
  const examples = blocks("ts").map((b) => b.code);
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
