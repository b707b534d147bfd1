#!/usr/bin/env node
/**
 * `make demo`: the demo chat page next to a real sidecar and a fake provider.
 *
 *   npm run build && node demo/serve.mjs [--json] [--port N] [--no-build]
 *
 * Starts the fake provider (`python -m sidecar.dev.fakes`) behind two fake models
 * (fake-models.mjs), a sidecar through this package's Node launcher on a throwaway data
 * dir (or DEMO_DATA_DIR), configures the provider, the models with prices and the title
 * model, builds the page with Vite and serves it on 127.0.0.1. The page reads
 * `/config.json` ({url, token}) to connect: fine for a loopback demo, not for an app
 * (the app gets the token from the launcher, see src/launchers/tauri.ts).
 *
 * A supervisor restarts the sidecar on the same port, token and data dir when it dies, as
 * an app would: the page reconnects and resyncs by itself. Stops on SIGINT/SIGTERM, or
 * after DEMO_SECONDS seconds.
 *
 * Prints `demo: http://127.0.0.1:PORT/`; with `--json`, JSON lines instead:
 *   {"type":"ready","url":...,"sidecarUrl":...,"sidecarPid":...,"fakeBaseUrl":...,"dataDir":...}
 *   {"type":"sidecar-restarted","sidecarPid":...,"restarts":...}
 * GET /_demo/status answers {sidecarPid, restarts, sidecarUrl} (the e2e test kills that pid).
 *
 * Environment: SIDECAR_PYTHON (default REPO/.venv/bin/python), DEMO_PORT, DEMO_DATA_DIR,
 * DEMO_RATE (fake chunks per second, default 30), DEMO_SECONDS.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize, sep } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { SidecarClient } from "../dist/index.js";
import { launchNode } from "../dist/launchers/node.js";
import { startFakeModels } from "./fake-models.mjs";

const DEMO_DIR = fileURLToPath(new URL(".", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PYTHON = process.env.SIDECAR_PYTHON ?? join(REPO_ROOT, ".venv", "bin", "python");
const argv = process.argv.slice(2);
const JSON_LINES = argv.includes("--json");
const NO_BUILD = argv.includes("--no-build");
const portArg = argv.indexOf("--port");
const PORT = Number(portArg >= 0 ? argv[portArg + 1] : (process.env.DEMO_PORT ?? 0));

// The fake's models, with prices (USD per million tokens) so every reply has a cost.
const PROVIDER = { id: "demo", kind: "openai-compatible", name: "Demo (fake)" };
const MODELS = [
  {
    id: "fake-fast",
    displayName: "Fake fast",
    providerModel: "fast",
    pricing: { input: 0.15, output: 0.6 },
  },
  {
    id: "fake-thinker",
    displayName: "Fake thinker",
    providerModel: "thinker",
    capabilities: { reasoning: true, tools: false, vision: false },
    pricing: { input: 3, output: 15 },
  },
];

const log = (message) => process.stderr.write(`demo: ${message}\n`);
const emit = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
const cleanups = [];
let stopping = false;

async function main() {
  // 1. The fake provider and the two fake models in front of it.
  const fake = await startFake();
  cleanups.push(() => fake.stop());
  const models = await startFakeModels(fake.root);
  cleanups.push(() => models.close());

  // 2. The page: built with Vite (unless --no-build and a build exists), served below.
  const dist = join(DEMO_DIR, "dist");
  if (!NO_BUILD || !existsSync(join(dist, "index.html"))) {
    const { build } = await import("vite");
    await build({ configFile: join(DEMO_DIR, "vite.config.mjs") });
  }

  // 3. The page server first: the sidecar must allow the page's origin.
  const state = { sidecar: null, launching: null, restarts: 0, config: null };
  const server = http.createServer((req, res) => handle(req, res, dist, state));
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(PORT, "127.0.0.1", resolve);
  });
  cleanups.push(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const pagePort = server.address().port;
  const pageUrl = `http://127.0.0.1:${pagePort}/`;

  // 4. The sidecar, as an app starts it, and its configuration.
  const dataDir = process.env.DEMO_DATA_DIR || mkdtempSync(join(tmpdir(), "sidecar-demo-"));
  if (!process.env.DEMO_DATA_DIR) cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const launch = (port, token) =>
    launchNode({
      command: PYTHON,
      args: ["-m", "sidecar", "serve"],
      extraArgs: [
        "--data-dir",
        dataDir,
        "--log-level",
        "warning",
        "--allow-origin",
        `http://127.0.0.1:${pagePort}`,
        "--allow-origin",
        `http://localhost:${pagePort}`,
        ...(port === undefined ? [] : ["--port", String(port)]),
      ],
      cwd: REPO_ROOT,
      ...(token === undefined ? {} : { token }),
      stderr: "inherit",
    });
  state.sidecar = await launch();
  cleanups.push(async () => {
    // A restart may be under way: wait for it, so no sidecar outlives the demo.
    const starting = state.launching?.catch(() => null);
    await state.sidecar?.stop();
    await (await starting)?.stop();
  });
  const { url, token, port } = state.sidecar.ready;
  state.config = { url, token };
  await configure(url, token, models.baseUrl);
  supervise(state, () => launch(port, token));

  if (JSON_LINES) {
    emit({
      type: "ready",
      url: pageUrl,
      sidecarUrl: url,
      sidecarPid: state.sidecar.child.pid,
      fakeBaseUrl: fake.baseUrl,
      dataDir,
    });
  } else {
    console.log(`demo: ${pageUrl}`);
    log(`sidecar ${url} (pid ${state.sidecar.child.pid}, data dir ${dataDir}); Ctrl-C stops`);
  }

  const seconds = Number(process.env.DEMO_SECONDS || 0);
  if (seconds > 0) setTimeout(() => void shutdown(0), seconds * 1000).unref();
}

/** Restarts the sidecar on the same port and token whenever it exits on its own. */
function supervise(state, relaunch) {
  const watch = (sidecar) => {
    void sidecar.exited.then(async (code) => {
      if (stopping) return;
      const how = code === null ? `signal ${sidecar.child.signalCode}` : `code ${code}`;
      log(`sidecar (pid ${sidecar.child.pid}) exited with ${how}; restarting`);
      for (let attempt = 1; !stopping; attempt++) {
        try {
          state.launching = relaunch();
          state.sidecar = await state.launching;
          break;
        } catch (error) {
          if (attempt >= 20) return void shutdown(1, `cannot restart the sidecar: ${error.message}`);
          await new Promise((resolve) => setTimeout(resolve, 250 * Math.min(attempt, 4)));
        }
      }
      if (stopping) return void state.sidecar?.stop();
      state.restarts += 1;
      log(`sidecar restarted (pid ${state.sidecar.child.pid})`);
      if (JSON_LINES) {
        emit({ type: "sidecar-restarted", sidecarPid: state.sidecar.child.pid, restarts: state.restarts });
      }
      watch(state.sidecar);
    });
  };
  watch(state.sidecar);
}

/** The provider, the models with prices, and the title model, through the package's client. */
async function configure(url, token, baseUrl) {
  const client = new SidecarClient({ url, token, WebSocket, clientInfo: { name: "demo-serve" }, reconnect: false });
  await client.connect();
  try {
    await client.request("providers.configure", { ...PROVIDER, baseUrl });
    for (const model of MODELS) {
      await client.request("models.upsert", { model: { provider: PROVIDER.id, ...model } });
    }
    await client.request("settings.update", {
      defaultModelId: MODELS[0].id,
      titleModelId: MODELS[0].id,
    });
  } finally {
    await client.close();
  }
}

function startFake() {
  const rate = process.env.DEMO_RATE || "30";
  const child = spawn(PYTHON, ["-m", "sidecar.dev.fakes", "--kind", "openai-compatible", "--rate", rate], {
    cwd: REPO_ROOT,
    stdio: ["pipe", "pipe", "inherit"], // our end of stdin keeps it alive: it exits with us
  });
  return new Promise((resolve, reject) => {
    child.once("error", (error) => reject(new Error(`cannot start ${PYTHON}: ${error.message}`)));
    child.once("exit", (code) => reject(new Error(`the fake provider exited with ${code}`)));
    createInterface({ input: child.stdout }).once("line", (line) => {
      const { baseUrl } = JSON.parse(line);
      resolve({
        baseUrl,
        root: baseUrl.replace(/\/v1$/, ""),
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
          }),
      });
    });
  });
}

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
};

function handle(req, res, dist, state) {
  const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
  const json = (body) => {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify(body));
  };
  if (path === "/config.json") return json(state.config);
  if (path === "/_demo/status") {
    return json({
      sidecarPid: state.sidecar?.child.pid ?? null,
      restarts: state.restarts,
      sidecarUrl: state.config?.url ?? null,
    });
  }
  let file = normalize(join(dist, path));
  if (!file.startsWith(dist + sep) && file !== dist) return res.writeHead(403).end();
  if (!existsSync(file) || statSync(file).isDirectory()) file = join(dist, "index.html");
  res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
  res.end(readFileSync(file));
}

async function shutdown(code, message) {
  if (stopping) return;
  stopping = true;
  if (message) log(message);
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (error) {
      log(`while stopping: ${error.message}`);
    }
  }
  process.exit(code);
}

process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));
main().catch((error) => void shutdown(1, error.stack ?? String(error)));
