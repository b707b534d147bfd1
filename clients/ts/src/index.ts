export * from "./generated/protocol.js";
export { parseReadyLine, newToken, type ReadyLine } from "./launchers/ready.js";
export * from "./client.js";
export * from "./state/index.js";
export * from "./router.js";
