/** The one line a sidecar prints on stdout once it accepts connections. */
export interface ReadyLine {
  type: "ready";
  url: string;
  port: number;
  token: string;
  pid: number;
  protocolVersion: number;
  version: string;
}

/** Parses the ready line, or throws a message that never repeats the line (it holds the token). */
export function parseReadyLine(line: string): ReadyLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error("sidecar printed something other than its JSON ready line on stdout");
  }
  const ready = value as Partial<ReadyLine> | null;
  if (
    ready === null ||
    typeof ready !== "object" ||
    ready.type !== "ready" ||
    typeof ready.url !== "string" ||
    typeof ready.token !== "string" ||
    typeof ready.port !== "number" ||
    typeof ready.protocolVersion !== "number"
  ) {
    throw new Error("sidecar's ready line lacks type, url, port, token or protocolVersion");
  }
  return ready as ReadyLine;
}

/** A fresh launch token: 32 random bytes, url-safe base64 (what the sidecar itself would pick). */
export function newToken(): string {
  const bytes = new Uint8Array(32);
  globalThis.crypto.getRandomValues(bytes);
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
