// The demo page: Svelte 5 + Vite. It imports the package by its name, the way an app does;
// the aliases point that name at this repository's sources so no build or link is needed.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

const src = (path) => fileURLToPath(new URL(`../src/${path}`, import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  plugins: [svelte()],
  resolve: {
    alias: [
      { find: /^@chat-sidecar\/client\/svelte$/, replacement: src("svelte.ts") },
      { find: /^@chat-sidecar\/client$/, replacement: src("index.ts") },
    ],
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    reportCompressedSize: false,
  },
  logLevel: "warn",
  clearScreen: false,
});
