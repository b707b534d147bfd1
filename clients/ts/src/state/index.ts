/** Pure state reducers: `(state, event) -> state`, no I/O; events with seq <= state.seq are ignored. */
export * from "./conversation.js";
export * from "./list.js";
export * from "./usage.js";
export * from "./settings.js";
export * from "./chatMessages.js";
