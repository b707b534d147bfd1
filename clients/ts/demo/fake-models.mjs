/**
 * The demo's two fake models, in front of the Python fake provider (`python -m sidecar.dev.fakes`).
 *
 * The fake speaks the real OpenAI-compatible streaming wire format but, left alone, only
 * echoes. This small HTTP proxy scripts it per request (`POST /_fake/scripts`) from the
 * upstream model name, then passes the request and the streamed answer through untouched:
 *
 *   "fast"     a few sentences that quote you; ask for something "long" to have time to Stop
 *   "thinker"  the same after a streamed reasoning block (shown folded in the page)
 *   titles     a request with the sidecar's title prompt gets a short title
 *
 * Scripts sit in one queue on the fake, so requests are passed on one at a time until the
 * fake has taken theirs (it does before it answers with headers); streams still overlap.
 */
import http from "node:http";

const TITLE_PROMPT = "You name chat conversations";

const PARAGRAPHS = [
  "A sidecar is a helper process that runs next to an application and owns one job for it. " +
    "Here it owns the model calls, the storage and the usage accounting, so the chat window " +
    "only renders events and sends commands over a local WebSocket.",
  "Think of it as a co-pilot that never touches the controls of the window: the app stays " +
    "responsive while replies stream in, and if the app reconnects nothing is lost, because " +
    "every event carries a sequence number that can be replayed.",
  "Every word you see arrives as an ordered, numbered event. Stopping a reply keeps what was " +
    "already written; regenerating it makes a sibling you can flip back to with the arrows.",
];

const STORY =
  "Once upon a time, on a quiet laptop, a small process woke up next to a chat window. " +
  "It had one job: to talk to the models so the window would not have to. ";

/** A title request? (The sidecar's title prompt is the system message.) */
export function isTitleRequest(body) {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  return messages.some((m) => m?.role === "system" && textOf(m.content).startsWith(TITLE_PROMPT));
}

/** The script for one request; `n` counts the chat replies so regenerations differ. */
export function replyFor(body, n) {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  const user = lastUserText(messages);
  if (isTitleRequest(body)) return { text: titleFrom(user) };
  const quoted = user.length > 80 ? `${user.slice(0, 77)}...` : user;
  const long = /\b(long|story|essay)\b/i.test(user);
  const body1 = long
    ? Array.from({ length: 10 }, (_, i) => STORY + PARAGRAPHS[(n + i) % PARAGRAPHS.length]).join(
        "\n\n",
      )
    : PARAGRAPHS[n % PARAGRAPHS.length];
  const text = `You said: "${quoted}"\n\n${body1}`;
  if (body?.model === "thinker") {
    const thinking =
      `The user wrote "${quoted}". They probably want to see how a reply streams. ` +
      "I should answer briefly, mention the sidecar, and keep the tone friendly.";
    return { text, thinking };
  }
  return { text };
}

function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (p && p.text) || "").join("");
  return "";
}

function lastUserText(messages) {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === "user") return textOf(messages[i].content);
  }
  return "";
}

const FILLER = new Set(
  "a an the and or of to in on for with what why how who when where is are was do does did you your me my i it can could would please tell give".split(" "),
);

/** "User: Hello sidecar, what do you do?\n\nAssistant: ..." -> "Hello Sidecar". */
function titleFrom(exchange) {
  const first = /User:\s*(.*)/.exec(exchange)?.[1] ?? exchange;
  const words = first.replace(/[^\p{L}\p{N}\s'-]/gu, " ").split(/\s+/).filter(Boolean);
  const title = words
    .filter((w) => !FILLER.has(w.toLowerCase()))
    .slice(0, 4)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join(" ");
  return title || "Demo chat";
}

/**
 * Starts the proxy on 127.0.0.1 in front of the fake whose control root is `fakeRoot`
 * (e.g. http://127.0.0.1:4242); resolves with {baseUrl, close()}.
 */
export async function startFakeModels(fakeRoot) {
  let replies = 0;
  let turn = Promise.resolve();

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      let body = null;
      try {
        body = raw.length ? JSON.parse(raw.toString("utf8")) : null;
      } catch {
        body = null;
      }
      const mine = turn.then(() => forward(req, res, raw, body));
      turn = mine.catch((error) => {
        console.error(`demo: fake models: ${error.message}`);
        if (!res.headersSent) res.writeHead(502).end();
      });
    });
  });

  async function forward(req, res, raw, body) {
    if (req.method === "POST" && req.url?.endsWith("/chat/completions") && body) {
      const reply = replyFor(body, isTitleRequest(body) ? replies : replies++);
      const scripted = await fetch(`${fakeRoot}/_fake/scripts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ scripts: [reply] }),
      });
      if (!scripted.ok) throw new Error(`fake refused a script: ${await scripted.text()}`);
    }
    // Resolves once the fake answered with headers (it has taken its script by then).
    await new Promise((resolve) => {
      const target = new URL(req.url ?? "/", fakeRoot);
      const headers = { ...req.headers, host: target.host, "content-length": raw.length };
      const upstream = http.request(target, { method: req.method, headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        resolve();
      });
      // The sidecar hung up (Stop): hang up on the fake too, so it stops streaming.
      res.on("close", () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.on("error", () => {
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
        resolve();
      });
      upstream.end(raw);
    });
  }

  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
