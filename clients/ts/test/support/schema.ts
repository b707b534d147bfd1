/**
 * Validates wire data against the checked-in schema/ with ajv (JSON Schema 2020-12),
 * so the TypeScript tests catch a sidecar (or a client) that drifts from the contract.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";

export const SCHEMA_DIR = fileURLToPath(new URL("../../../../schema/", import.meta.url));

const ajv = new Ajv2020({ strict: false, allErrors: true });
const cache = new Map<string, ValidateFunction>();

function compiled(relPath: string): ValidateFunction {
  let validate = cache.get(relPath);
  if (validate === undefined) {
    const schema = JSON.parse(readFileSync(join(SCHEMA_DIR, relPath), "utf8")) as object;
    validate = ajv.compile(schema);
    cache.set(relPath, validate);
  }
  return validate;
}

function check(relPath: string, value: unknown, what: string): void {
  const validate = compiled(relPath);
  if (!validate(value)) {
    const errors = (validate.errors ?? [])
      .slice(0, 5)
      .map((e) => `${e.instancePath || "$"} ${e.message ?? ""}`)
      .join("; ");
    throw new Error(`${what} violates ${relPath}: ${errors}`);
  }
}

export const knownEvents = new Set(
  readdirSync(join(SCHEMA_DIR, "events")).map((f) => f.replace(/\.json$/, "")),
);

/** An event notification's params (`type`, `seq`, `ts`, fields). */
export function validateEvent(method: string, params: unknown): void {
  if (!knownEvents.has(method)) throw new Error(`unknown event ${method}`);
  check(`events/${method}.json`, params, `event ${method}`);
}

export function validateParams(method: string, params: unknown): void {
  check(`methods/${method}.params.json`, params, `params of ${method}`);
}

export function validateResult(method: string, result: unknown): void {
  check(`methods/${method}.result.json`, result, `result of ${method}`);
}

/** A JSON-RPC error object (code, message, data.reason). */
export function validateError(error: unknown): void {
  check("errors.json", error, "error");
}

/** Counts what was validated, so a test can assert it actually checked something. */
export const validated = { events: 0, results: 0, errors: 0 };

/**
 * Validates one raw inbound frame. `methodOf` maps request ids to method names so that
 * results can be checked against the method's result schema.
 */
export function validateFrame(frame: unknown, methodOf: (id: unknown) => string | undefined): void {
  const messages = Array.isArray(frame) ? frame : [frame];
  for (const message of messages as Record<string, unknown>[]) {
    if (typeof message.method === "string" && !("id" in message)) {
      validateEvent(message.method, message.params);
      validated.events += 1;
    } else if ("error" in message) {
      validateError(message.error);
      validated.errors += 1;
    } else {
      const method = methodOf(message.id);
      if (method === undefined) throw new Error(`response to unknown request id ${String(message.id)}`);
      validateResult(method, message.result);
      validated.results += 1;
    }
  }
}
