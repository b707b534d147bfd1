/**
 * The README's TypeScript examples compile against the package (strict), so the docs
 * cannot drift from the API. Free names an example only uses (the app's own functions,
 * the Tauri shell plugin) are declared in a prelude; everything else must resolve.
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
  export const Command: import("@chat-sidecar/client/tauri").TauriCommandClass;
}
declare function append(messageId: string, text: string): void;
declare function reloadSnapshots(): void;
`;

function examples(): string[] {
  const text = readFileSync(join(root, "README.md"), "utf8");
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] ?? "");
}

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

it("every ts example in README.md type-checks", () => {
  const blocks = examples();
  expect(blocks.length).toBeGreaterThanOrEqual(4);
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  writeFileSync(join(workDir, "prelude.d.ts"), PRELUDE);
  const files = blocks.map((code, i) => {
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
