#!/usr/bin/env node
/**
 * End to end: the demo page in headless Chromium against a real sidecar and a fake provider.
 *
 *   npm run e2e        (needs Debian's /usr/bin/chromium, or CHROMIUM=/path/to/chromium)
 *
 * Starts `node demo/serve.mjs --json` (it builds the page with Vite), drives the page with
 * playwright-core and checks what a user sees: streaming, Stop, regenerate and the sibling
 * arrows, edit, folded thinking, a generated title, usage and cost, and the connection
 * indicator across a sidecar crash (SIGKILL; the demo's supervisor restarts it on the same
 * port and token). Saves test-results/demo.png. Prints each check; exits 1 on a failure.
 * Waits on conditions, never fixed sleeps; E2E_TIMEOUT_MS (default 60000) bounds each wait.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const TS_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SCREENSHOT = join(TS_ROOT, "test-results", "demo.png");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS || 60_000);
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const started = Date.now();
const ok = (what) => console.log(`ok - ${what}  (${((Date.now() - started) / 1000).toFixed(1)} s)`);

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

// -- the demo server ------------------------------------------------------------------

function startDemo() {
  const child = spawn(process.execPath, ["demo/serve.mjs", "--json"], {
    cwd: TS_ROOT,
    env: { ...process.env, DEMO_PORT: "0", DEMO_DATA_DIR: "", DEMO_SECONDS: "" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const waiting = []; // {type, resolve}
  const seen = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      return void process.stderr.write(`serve: ${line}\n`);
    }
    seen.push(message);
    for (const w of waiting.filter((w) => w.type === message.type)) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(message);
    }
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return {
    child,
    /** The next JSON line of this type (or one already printed and not taken yet). */
    next(type, timeoutMs = TIMEOUT) {
      const at = seen.findIndex((m) => m.type === type);
      if (at >= 0) return Promise.resolve(seen.splice(at, 1)[0]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${type}" line from serve.mjs in ${timeoutMs} ms`)), timeoutMs);
        waiting.push({ type, resolve: (m) => (clearTimeout(timer), seen.splice(seen.indexOf(m), 1), resolve(m)) });
        void exited.then(({ code }) => {
          clearTimeout(timer);
          reject(new Error(`serve.mjs exited with ${code} before its "${type}" line`));
        });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      child.kill("SIGTERM");
      await exited;
      clearTimeout(killer);
    },
  };
}

// -- page helpers -----------------------------------------------------------------------

const $ = (testid) => `[data-testid="${testid}"]`;

/** Messages on screen: [{id, role, status, text, sibling, thinking, thinkingOpen, usage}]. */
function messages(page) {
  return page.$$eval($("message"), (nodes) =>
    nodes.map((n) => ({
      id: n.dataset.id,
      role: n.dataset.role,
      status: n.dataset.status,
      text: n.querySelector('[data-testid="message-text"]')?.textContent ?? "",
      sibling: n.querySelector('[data-testid="sibling-label"]')?.textContent ?? null,
      thinking: n.querySelector('[data-testid="thinking"]')?.textContent ?? null,
      thinkingOpen: n.querySelector('[data-testid="thinking"]')?.open ?? null,
      usage: n.querySelector('[data-testid="message-usage"]')?.textContent?.replace(/\s+/g, " ").trim() ?? null,
    })),
  );
}

/** Waits until `predicate(messages)` holds in the page; returns the messages then. */
async function waitMessages(page, what, predicate) {
  const handle = await page
    .waitForFunction(
      (source) => {
        const list = [...document.querySelectorAll('[data-testid="message"]')].map((n) => ({
          id: n.dataset.id,
          role: n.dataset.role,
          status: n.dataset.status,
          text: n.querySelector('[data-testid="message-text"]')?.textContent ?? "",
          sibling: n.querySelector('[data-testid="sibling-label"]')?.textContent ?? null,
        }));
        // eslint-disable-next-line no-new-func
        return new Function("m", `return (${source})(m)`)(list) ? list : false;
      },
      predicate.toString(),
      { timeout: TIMEOUT, polling: 50 },
    )
    .catch(async (error) => {
      throw new Error(`timed out waiting for ${what}; messages: ${JSON.stringify(await messages(page))}\n${error.message}`);
    });
  return handle.jsonValue();
}

const last = (list, role) => list.filter((m) => m.role === role).at(-1);

/**
 * Samples the newest assistant message (length and status every 40 ms, in the page) from
 * before the send until it ends: proof that the text grew over time, not all at once.
 */
function sampleReply(page, before) {
  return page.evaluate(
    ({ before, timeout }) =>
      new Promise((resolve, reject) => {
        const samples = [];
        const end = Date.now() + timeout;
        const tick = () => {
          const nodes = [...document.querySelectorAll('[data-testid="message"][data-role="assistant"]')];
          const node = nodes.at(-1);
          if (node && nodes.length > before) {
            const text = node.querySelector('[data-testid="message-text"]')?.textContent ?? "";
            samples.push({ status: node.dataset.status, length: text.length });
            if (!["pending", "streaming"].includes(node.dataset.status)) return resolve(samples);
          }
          if (Date.now() > end) return reject(new Error(`reply did not end: ${JSON.stringify(samples.slice(-3))}`));
          setTimeout(tick, 40);
        };
        tick();
      }),
    { before, timeout: TIMEOUT },
  );
}

async function send(page, text) {
  await page.fill($("composer"), text);
  await page.click($("send"));
}

const assistants = async (page) => (await messages(page)).filter((m) => m.role === "assistant").length;

// -- the test -------------------------------------------------------------------------

async function run(demo, userDataDir) {
  const ready = await demo.next("ready", 180_000); // includes the Vite build
  ok(`demo served at ${ready.url} (sidecar pid ${ready.sidecarPid})`);

  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1180, height: 820 },
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(TIMEOUT);
    page.on("pageerror", (error) => console.error(`page error: ${error.message}`));
    // The browser logs each refused reconnect attempt with the URL: keep the token out of our log.
    page.on("console", (m) => {
      if (m.type() === "error") console.error(`page console: ${m.text().replace(/token=[^\s&'"]+/g, "token=…")}`);
    });

    await page.goto(ready.url);
    await page.waitForSelector(`${$("connection")}[data-state="open"]`);
    ok("page loaded, connection indicator says open");

    const options = await page.$$eval(`${$("model-picker")} option`, (os) => os.map((o) => o.textContent?.trim()));
    assert(options.includes("Fake fast") && options.includes("Fake thinker"), `model picker: ${options}`);
    await page.selectOption($("model-picker"), "fake-fast");
    ok(`model picker lists ${options.join(", ")}`);

    // 1. Send, and watch the reply stream.
    const streamed = sampleReply(page, 0);
    await send(page, "Hello sidecar, what do you do?");
    const samples = await streamed;
    const growing = new Set(samples.filter((s) => s.status === "streaming" && s.length > 0).map((s) => s.length));
    const final = samples.at(-1);
    assert(final.status === "complete", `first reply ended ${final.status}`);
    assert(growing.size >= 3, `the text did not grow over time: ${JSON.stringify(samples)}`);
    ok(`reply streamed: ${growing.size} distinct lengths while streaming, ${final.length} chars at the end`);

    // 2. Usage and cost, per message and per conversation.
    let list = await waitMessages(page, "the reply's usage", (m) => m.length === 2);
    const reply1 = last(await messages(page), "assistant");
    assert(/\d+ in · \d+ out · \$\d/.test(reply1.usage ?? ""), `message usage: ${reply1.usage}`);
    await page.waitForFunction((sel) => /\$\d/.test(document.querySelector(sel)?.textContent ?? ""), $("conversation-usage"));
    const total = (await page.textContent($("conversation-usage"))).replace(/\s+/g, " ").trim();
    ok(`usage shown: message "${reply1.usage}", conversation "${total}"`);

    // 3. The generated title appears in the header and the sidebar.
    await page.waitForSelector(`${$("conversation-title")}[data-source="generated"]`);
    const title = (await page.textContent($("conversation-title"))).trim();
    assert(title === "Hello Sidecar", `title: ${title}`);
    await page.waitForFunction(
      ({ sel, title }) => [...document.querySelectorAll(sel)].some((n) => n.textContent?.trim() === title),
      { sel: $("conversation-item"), title },
    );
    ok(`title "${title}" appeared in the header and the conversation list`);

    // 4. Regenerate: a second sibling; ‹ › switch between them.
    await page.click(`${$("message")}[data-id="${reply1.id}"] ${$("regenerate")}`);
    list = await waitMessages(page, "the regenerated reply", (m) => {
      const a = m.filter((x) => x.role === "assistant").at(-1);
      return a && a.sibling === "2/2" && a.status === "complete";
    });
    const reply2 = last(list, "assistant");
    assert(reply2.id !== reply1.id && reply2.text !== reply1.text, "the regenerated reply is a new, different message");
    ok("regenerate made sibling 2/2 with a different text");
    await page.click($("sibling-prev"));
    await waitMessages(page, "sibling 1/2", (m) => m.at(-1)?.sibling === "1/2");
    list = await messages(page);
    assert(last(list, "assistant").id === reply1.id && last(list, "assistant").text === reply1.text, "‹ shows the first reply");
    await page.click($("sibling-next"));
    list = await waitMessages(page, "sibling 2/2", (m) => m.at(-1)?.sibling === "2/2");
    assert(last(list, "assistant").id === reply2.id, "› shows the regenerated reply");
    ok("sibling arrows switch 2/2 -> 1/2 (first text back) -> 2/2 via branches.switch");

    // 5. A thinking model: the reasoning is shown folded.
    await page.selectOption($("model-picker"), "fake-thinker");
    const before = await assistants(page);
    const thought = sampleReply(page, before);
    await send(page, "Why is the sky blue?");
    assert((await thought).at(-1).status === "complete", "the thinker's reply completed");
    const reply3 = last(await messages(page), "assistant");
    assert(reply3.thinking?.includes('The user wrote "Why is the sky blue?"'), `thinking: ${reply3.thinking}`);
    assert(reply3.thinkingOpen === false, "thinking is folded (a closed <details>)");
    ok("Fake thinker's reasoning is in a folded <details>");

    // 6. Stop: a long reply, stopped while it streams, keeps its partial text.
    await page.selectOption($("model-picker"), "fake-fast");
    const count = await assistants(page);
    await send(page, "Tell me a long story");
    list = await waitMessages(page, "the long reply to stream", (m) => {
      const a = m.filter((x) => x.role === "assistant");
      return a.length > 0 && a.at(-1).status === "streaming" && a.at(-1).text.length > 40;
    });
    assert(list.filter((m) => m.role === "assistant").length === count + 1, "one new reply");
    await page.click($("stop"));
    list = await waitMessages(page, "status cancelled", (m) => m.at(-1)?.status === "cancelled");
    const stopped = last(list, "assistant");
    assert(stopped.text.length > 40 && stopped.text.length < 4000, `partial text: ${stopped.text.length} chars`);
    assert(stopped.text.startsWith('You said: "Tell me a long story"'), "the partial text is the reply's start");
    assert((await page.textContent(`${$("message")}[data-id="${stopped.id}"] ${$("message-status")}`)).includes("stopped"), "status label");
    await page.waitForSelector($("send")); // the composer is back
    ok(`Stop: status cancelled, ${stopped.text.length} chars of partial text kept`);

    // 7. Edit a user message: a new user sibling and its reply.
    const asked = last(list, "user");
    await page.click(`${$("message")}[data-id="${asked.id}"] ${$("edit")}`);
    await page.fill($("edit-input"), "Tell me something short instead");
    await page.click($("edit-save"));
    list = await waitMessages(page, "the edited question's reply", (m) => {
      const u = m.filter((x) => x.role === "user").at(-1);
      return u?.sibling === "2/2" && u.text === "Tell me something short instead" && m.at(-1)?.role === "assistant" && m.at(-1).status === "complete";
    });
    ok("edit made user sibling 2/2 and a complete reply to it");

    // 7b. Add an MCP server in the sidebar: it starts, and shows its tools.
    const python = process.env.SIDECAR_PYTHON ?? "python3";
    const server = join(TS_ROOT, "..", "..", "tests", "mcp_servers", "misbehaving.py");
    await page.fill($("mcp-name"), "Misbehaving");
    await page.fill($("mcp-target"), `${python} ${server}`);
    await page.click(`${$("mcp-servers")} button[type="submit"]`);
    await page.waitForSelector(`${$("mcp-server")}[data-state="ready"]`);
    const toolsShown = (await page.textContent(`${$("mcp-server")} .state`)).trim();
    assert(toolsShown === "4 tools", `MCP server panel: ${toolsShown}`);
    ok(`MCP server added from the sidebar: ready, ${toolsShown}`);

    // 8. Kill the sidecar: the indicator goes to reconnecting, then back to open; nothing lost.
    const status = await (await fetch(new URL("_demo/status", ready.url))).json();
    const shown = await messages(page);
    const conversations = await page.$$eval($("conversation-item"), (ns) => ns.map((n) => n.textContent?.trim()));
    await page.evaluate(() => {
      const node = document.querySelector('[data-testid="connection"]');
      window.__states = [node.dataset.state];
      new MutationObserver(() => window.__states.push(node.dataset.state)).observe(node, { attributes: true, attributeFilter: ["data-state"] });
    });
    process.kill(status.sidecarPid, "SIGKILL");
    await page.waitForFunction(() => window.__states.some((s) => s === "reconnecting" || s === "connecting"), null, { polling: 50 });
    const restarted = await demo.next("sidecar-restarted");
    await page.waitForSelector(`${$("connection")}[data-state="open"]`);
    const states = await page.evaluate(() => window.__states);
    ok(`killed sidecar pid ${status.sidecarPid}; indicator went ${states.join(" -> ")}; restarted as pid ${restarted.sidecarPid}`);

    await waitMessages(page, "the conversation after the restart", (m) => m.length > 0);
    const after = await messages(page);
    const strip = (l) => l.map(({ id, role, status, text, sibling }) => ({ id, role, status, text, sibling }));
    assert(JSON.stringify(strip(after)) === JSON.stringify(strip(shown)), `conversation changed: ${JSON.stringify(after)}`);
    assert((await page.textContent($("conversation-title"))).trim() === title, "title kept");
    const listed = await page.$$eval($("conversation-item"), (ns) => ns.map((n) => n.textContent?.trim()));
    assert(JSON.stringify(listed) === JSON.stringify(conversations), `conversation list: ${listed}`);
    ok(`conversation intact after the restart: ${after.length} messages, title, list`);

    const n = await assistants(page);
    const again = sampleReply(page, n);
    await send(page, "Still there?");
    assert((await again).at(-1).status === "complete", "a reply after the restart completed");
    ok("chatting works on the restarted sidecar");

    // The whole conversation in one picture: a window as tall as the message list.
    const height = await page.$eval(".messages", (el) => el.scrollHeight - el.clientHeight);
    await page.setViewportSize({ width: 1180, height: Math.min(820 + height, 2400) });
    mkdirSync(join(TS_ROOT, "test-results"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    ok(`screenshot ${SCREENSHOT}`);
  } finally {
    await context.close();
  }
}

const userDataDir = mkdtempSync(join(tmpdir(), "demo-e2e-chromium-"));
const demo = startDemo();
let failed = false;
try {
  await run(demo, userDataDir);
} catch (error) {
  failed = true;
  console.error(`not ok - ${error.stack ?? error}`);
} finally {
  await demo.stop();
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(`${failed ? "FAILED" : "passed"} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
