/**
 * What a request or a connection can fail with. Each class answers one question a caller
 * asks: did the sidecar say no (RpcError), did the answer never come (ConnectionError,
 * TimeoutError), or must this client never talk to that sidecar (ProtocolMismatchError).
 */
import { PROTOCOL_VERSION } from "../generated/protocol.js";

/** A JSON-RPC error answered by the sidecar; switch on `reason` (its `data.reason`). */
export class RpcError extends Error {
  override name = "RpcError";
  readonly code: number;
  /** The stable reason string (`NOT_FOUND`, `CONFLICT`, `OVERLOADED`, ...). */
  readonly reason: string | undefined;
  /** The error's whole `data` object (e.g. `oldestSeq`/`lastSeq`, or `errors` for INVALID_PARAMS). */
  readonly data: unknown;
  /** The method whose request failed. */
  readonly method: string;

  constructor(method: string, code: number, message: string, data: unknown) {
    super(`${method}: ${message}`);
    this.method = method;
    this.code = code;
    this.data = data;
    const reason = isRecord(data) ? data.reason : undefined;
    this.reason = typeof reason === "string" ? reason : undefined;
  }
}

/**
 * The connection was lost or closed before the answer came. For a request that changes
 * state this means "unknown": it may or may not have taken effect (the client re-sends only
 * requests that are safe to repeat, see `SidecarClient.request`).
 */
export class ConnectionError extends Error {
  override name = "ConnectionError";
}

/** No answer within the request's timeout. The request may still take effect on the sidecar. */
export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/** The sidecar speaks another major protocol version; the client closes and never retries. */
export class ProtocolMismatchError extends Error {
  override name = "ProtocolMismatchError";
  readonly clientVersion: number;
  readonly sidecarVersion: number;

  constructor(sidecarVersion: number, clientVersion: number = PROTOCOL_VERSION) {
    super(
      `the sidecar speaks protocol version ${sidecarVersion} but this client speaks version ` +
        `${clientVersion}; install a client and sidecar of the same major version`,
    );
    this.clientVersion = clientVersion;
    this.sidecarVersion = sidecarVersion;
  }
}

/** Throws ProtocolMismatchError unless `version` has our major version (the integer part). */
export function assertProtocolVersion(version: unknown): void {
  const major = (v: number) => Math.floor(v);
  if (typeof version !== "number" || !Number.isFinite(version)) {
    throw new ProtocolMismatchError(Number.NaN);
  }
  if (major(version) !== major(PROTOCOL_VERSION)) throw new ProtocolMismatchError(version);
}

/** What an aborted request rejects with: the signal's reason, like `fetch` does. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The request was aborted", "AbortError");
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
