/**
 * What `npm pack` would publish: the built dist/ with type declarations, the README and
 * package.json, and nothing of the sources, tests or demo. The browser entry points must
 * not reach a Node module (a Tauri webview has none); only the Node launcher may.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
let files: string[] = [];

beforeAll(() => {
  execFileSync(npm, ["run", "build"], { cwd: ROOT, stdio: "pipe" });
  const out = execFileSync(npm, ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, encoding: "utf8" });
  const [pack] = JSON.parse(out) as { files: { path: string }[] }[];
  files = pack!.files.map((f) => f.path);
}, 120_000);

/** Every module a dist file loads, following relative imports; returns the non-relative ones. */
function externalImports(entry: string): Map<string, string> {
  const found = new Map<string, string>(); // specifier -> the file importing it
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(join(ROOT, file), "utf8");
    const specifiers = [
      ...text.matchAll(/(?:^|;|\n)\s*(?:import|export)\s[^;]*?from\s*["']([^"']+)["']/g),
      ...text.matchAll(/(?:^|;|\n)\s*import\s*["']([^"']+)["']/g),
      ...text.matchAll(/import\(\s*["']([^"']+)["']\s*\)/g),
    ].map((m) => m[1]!);
    for (const specifier of specifiers) {
      if (specifier.startsWith(".")) visit(normalize(join(dirname(file), specifier)));
      else found.set(specifier, file);
    }
  };
  visit(entry);
  return found;
}

describe("npm pack", () => {
  it("ships dist with declarations for every export, the README and package.json", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      exports: Record<string, string | { types: string; import: string }>;
    };
    const targets = Object.values(pkg.exports).flatMap((t) => (typeof t === "string" ? [t] : [t.types, t.import]));
    for (const target of targets) expect(files).toContain(target.replace(/^\.\//, ""));
    expect(files).toEqual(
      expect.arrayContaining([
        "package.json",
        "README.md",
        "dist/index.js",
        "dist/index.d.ts",
        "dist/client.js",
        "dist/client.d.ts",
        "dist/client/client.d.ts",
        "dist/generated/protocol.d.ts",
        "dist/launchers/tauri.d.ts",
        "dist/launchers/node.d.ts",
      ]),
    );
  });

  it("ships no sources, tests, demo, scripts or dependencies", () => {
    const leaked = files.filter((f) => /^(src|test|demo|scripts|node_modules)\//.test(f) || f.endsWith(".tgz"));
    expect(leaked).toEqual([]);
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
  });

  it.each(["dist/index.js", "dist/svelte.js", "dist/launchers/tauri.js"])(
    "%s loads no Node module and no dependency (browser and Tauri webview safe)",
    (entry) => {
      expect(files).toContain(entry);
      expect([...externalImports(entry)]).toEqual([]);
    },
  );

  it("only the Node launcher loads node: modules", () => {
    const imports = externalImports("dist/launchers/node.js");
    expect([...imports.keys()].sort()).toEqual(["node:child_process", "node:readline"]);
  });
});
