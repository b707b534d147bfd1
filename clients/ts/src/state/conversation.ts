/**
 * One conversation as a pure reducer: `(state, event) -> state`.
 *
 * The state keeps every message it has seen, not only the active branch, with the
 * children of each parent in creation order. A branch switch (`conversation.updated`
 * with a new `activeLeafId`) or a regenerate/edit (`message.created` under a parent
 * that already has children) then changes `activePath` without a reload.
 *
 * Updates are immutable and keep unchanged parts by reference: an event about another
 * conversation returns the very same state, and a delta replaces only the streaming
 * message, so Svelte (or any `===` check) re-renders only what changed.
 */
import type {
  Conversation,
  ConversationsGetResult,
  JsonValue,
  Message,
  SidecarEvent,
  ToolCall,
} from "../generated/protocol.js";

export type MessageStatus = Message["status"];

/** Live details of an assistant message between `message.created` and its terminal event. */
export interface StreamingInfo {
  messageId: string;
  /** `pending` until `assistant.stream.started`, then `streaming`. */
  status: MessageStatus;
  /** The text so far (the same string as the message's `content`). */
  text: string;
  /** The reasoning so far ("" when none). */
  thinking: string;
  /** Between `agent.thinking.started` and `.completed`: show a "thinking…" indicator. */
  thinkingActive: boolean;
  /** The `index` the next delta must carry; -1 after a snapshot (the next one is taken as is). */
  nextIndex: number;
  /** A delta was skipped (lost): the text is a correct prefix until the terminal event repairs it. */
  gap: boolean;
  /** Set by `assistant.stream.retrying` until text arrives. */
  retry: { attempt: number; delayMs: number; reason: string } | null;
  /** Oldest branch messages left out of the prompt (context budget). */
  omittedMessages: number;
  /** The tool-loop step (provider call) the next tool call belongs to (best effort; the final message is exact). */
  step: number;
  /** Tool calls arrived in the current step, so the next text starts a new step. */
  afterTools: boolean;
}

export interface ConversationState {
  /** The last event reflected (events about other conversations do not bump it). */
  seq: number;
  conversationId: string;
  conversation: Conversation | null;
  /** Set by `conversation.deleted`. */
  deleted: boolean;
  /** Every message seen, by id. */
  messages: Record<string, Message>;
  /** parentId ("" for roots) -> child ids in creation order (ids are time-ordered UUIDv7). */
  children: Record<string, string[]>;
  /** Assistant messages not yet ended, by id. */
  streaming: Record<string, StreamingInfo>;
}

/** A message of the active branch with its siblings (itself included), as `conversations.get` returns it. */
export type PathMessage = Message & { siblingIds: string[] };

const ROOT = "";
const LIVE: ReadonlySet<MessageStatus> = new Set(["pending", "streaming"]);

export function emptyConversation(conversationId: string): ConversationState {
  return {
    seq: -1,
    conversationId,
    conversation: null,
    deleted: false,
    messages: {},
    children: {},
    streaming: {},
  };
}

/** The state a `conversations.get` result stands for (its active branch; other branches arrive by events). */
export function conversationFromSnapshot(result: ConversationsGetResult): ConversationState {
  const messages: Record<string, Message> = {};
  const children: Record<string, string[]> = {};
  const streaming: Record<string, StreamingInfo> = {};
  for (const { siblingIds, ...message } of result.messages) {
    messages[message.id] = message;
    children[message.parentId ?? ROOT] = siblingIds;
    if (LIVE.has(message.status)) streaming[message.id] = streamingFromMessage(message, -1);
  }
  return {
    seq: result.seq,
    conversationId: result.conversation.id,
    conversation: result.conversation,
    deleted: false,
    messages,
    children,
    streaming,
  };
}

export function reduceConversation(state: ConversationState, event: SidecarEvent): ConversationState {
  if (event.seq <= state.seq) return state;
  const next = apply(state, event);
  return next === state ? state : { ...next, seq: event.seq };
}

function apply(state: ConversationState, event: SidecarEvent): ConversationState {
  const id = state.conversationId;
  switch (event.type) {
    case "conversation.created":
    case "conversation.updated":
      return event.conversation.id === id ? { ...state, conversation: event.conversation, deleted: false } : state;
    case "conversation.deleted":
      return event.conversationId === id
        ? { ...emptyConversation(id), seq: state.seq, deleted: true }
        : state;
    case "message.created":
    case "message.updated":
      return event.message.conversationId === id ? upsertMessage(state, event.message, event.type === "message.created") : state;
    case "message.deleted":
      return event.conversationId === id ? deleteMessage(state, event.messageId) : state;
    case "assistant.stream.completed":
    case "assistant.stream.cancelled":
    case "assistant.stream.failed":
      // The terminal event's message is the stored final state: authoritative over the deltas.
      return event.conversationId === id ? upsertMessage(state, event.message, false) : state;
    default:
      break;
  }
  if (!("conversationId" in event) || event.conversationId !== id || !("messageId" in event)) return state;
  const message = state.messages[event.messageId];
  const live = state.streaming[event.messageId];
  if (message === undefined) return state; // on a branch this state never saw: its final message will come
  switch (event.type) {
    case "assistant.stream.started": {
      const info = live ?? streamingFromMessage(message, 0);
      return withLive(state, { ...message, status: "streaming", modelId: event.modelId, provider: event.provider }, {
        ...info,
        status: "streaming",
        omittedMessages: event.omittedMessages,
      });
    }
    case "assistant.stream.delta": {
      if (live === undefined) return state;
      if (live.nextIndex !== -1 && event.index !== live.nextIndex) {
        // A duplicate (lower index) is dropped; a gap keeps the text a correct prefix until the terminal event.
        return event.index < live.nextIndex || live.gap ? state : withLive(state, message, { ...live, gap: true });
      }
      const text = live.text + event.text;
      return withLive(state, { ...message, content: text }, {
        ...live,
        text,
        nextIndex: event.index + 1,
        retry: null,
        ...newStep(live),
      });
    }
    case "assistant.stream.retrying":
      if (live === undefined) return state;
      return withLive(state, message, {
        ...live,
        retry: { attempt: event.attempt, delayMs: event.delayMs, reason: event.reason },
      });
    case "agent.thinking.started":
      return live === undefined ? state : withLive(state, message, { ...live, thinkingActive: true });
    case "agent.thinking.delta": {
      if (live === undefined) return state;
      const thinking = live.thinking + event.text;
      return withLive(state, { ...message, thinking }, { ...live, thinking, thinkingActive: true, retry: null, ...newStep(live) });
    }
    case "agent.thinking.completed":
      return live === undefined ? state : withLive(state, message, { ...live, thinkingActive: false });
    case "tool.execution.proposed":
      return toolCall(state, message, live, event.callId, (call) => ({
        ...call,
        name: event.name,
        arguments: event.arguments,
        status: "proposed",
      }));
    case "tool.execution.started":
      return toolCall(state, message, live, event.callId, (call) => ({
        ...call,
        name: event.name,
        arguments: event.arguments,
        executor: event.executor,
        status: "running",
      }));
    case "tool.execution.completed":
      return toolCall(state, message, live, event.callId, (call) => ({
        ...call,
        status: "completed",
        result: event.result,
      }));
    case "tool.execution.failed":
      // Failing straight from `proposed` means the user denied it (an approved call starts first).
      return toolCall(state, message, live, event.callId, (call) => ({
        ...call,
        status: call.status === "proposed" ? "denied" : "failed",
        error: event.error,
      }));
    default:
      return state;
  }
}

/** Adds or replaces a message; a new id joins its parent's children, keeping creation (id) order. */
function upsertMessage(state: ConversationState, message: Message, created: boolean): ConversationState {
  const known = state.messages[message.id];
  const key = message.parentId ?? ROOT;
  const siblings = state.children[key] ?? [];
  const children = siblings.includes(message.id)
    ? state.children
    : { ...state.children, [key]: insertSorted(siblings, message.id) };
  let streaming = state.streaming;
  if (LIVE.has(message.status)) {
    if (created || state.streaming[message.id] === undefined) {
      streaming = { ...streaming, [message.id]: streamingFromMessage(message, created ? 0 : -1) };
    }
  } else if (streaming[message.id] !== undefined) {
    streaming = without(streaming, message.id);
  }
  const same = known !== undefined && sameMessage(known, message);
  if (same && children === state.children && streaming === state.streaming) {
    return state; // e.g. message.updated repeating the terminal event's message
  }
  return { ...state, messages: same ? state.messages : { ...state.messages, [message.id]: message }, children, streaming };
}

/** Removes a message and everything under it (their subtree goes with them on the server). */
function deleteMessage(state: ConversationState, messageId: string): ConversationState {
  const target = state.messages[messageId];
  const parentKey = target?.parentId ?? findParentKey(state, messageId);
  if (target === undefined && parentKey === undefined) return state;
  const messages = { ...state.messages };
  const children = { ...state.children };
  let streaming = state.streaming;
  const stack = [messageId];
  while (stack.length > 0) {
    const id = stack.pop()!;
    delete messages[id];
    if (streaming[id] !== undefined) streaming = without(streaming, id);
    const kids = children[id];
    if (kids !== undefined) {
      stack.push(...kids);
      delete children[id];
    }
  }
  if (parentKey !== undefined) {
    const rest = (children[parentKey] ?? []).filter((id) => id !== messageId);
    if (rest.length > 0) children[parentKey] = rest;
    else delete children[parentKey];
  }
  return { ...state, messages, children, streaming };
}

function findParentKey(state: ConversationState, messageId: string): string | undefined {
  for (const [key, ids] of Object.entries(state.children)) if (ids.includes(messageId)) return key;
  return undefined;
}

function toolCall(
  state: ConversationState,
  message: Message,
  live: StreamingInfo | undefined,
  callId: string,
  change: (call: ToolCall) => ToolCall,
): ConversationState {
  const at = message.toolCalls.findIndex((c) => c.id === callId);
  const step = live?.step ?? 0;
  const current: ToolCall =
    at >= 0
      ? message.toolCalls[at]!
      : { id: callId, providerCallId: null, name: "", arguments: {}, status: "proposed", executor: null, result: null as JsonValue, error: null, step };
  const updated = change(current);
  const toolCalls = at >= 0 ? message.toolCalls.map((c, i) => (i === at ? updated : c)) : [...message.toolCalls, updated];
  const next = { ...message, toolCalls };
  return live === undefined ? withMessage(state, next) : withLive(state, next, { ...live, afterTools: true });
}

/** After tool calls, the next text or thinking belongs to the next provider call. */
function newStep(live: StreamingInfo): Pick<StreamingInfo, "step" | "afterTools"> {
  return live.afterTools ? { step: live.step + 1, afterTools: false } : { step: live.step, afterTools: false };
}

function streamingFromMessage(message: Message, nextIndex: number): StreamingInfo {
  return {
    messageId: message.id,
    status: message.status,
    text: message.content,
    thinking: message.thinking ?? "",
    thinkingActive: false,
    nextIndex,
    gap: false,
    retry: null,
    omittedMessages: 0,
    step: message.steps.length,
    afterTools: false,
  };
}

function withMessage(state: ConversationState, message: Message): ConversationState {
  return { ...state, messages: { ...state.messages, [message.id]: message } };
}

function withLive(state: ConversationState, message: Message, live: StreamingInfo): ConversationState {
  return {
    ...state,
    messages: state.messages[message.id] === message ? state.messages : { ...state.messages, [message.id]: message },
    streaming: { ...state.streaming, [message.id]: live },
  };
}

function insertSorted(ids: string[], id: string): string[] {
  let at = ids.length;
  while (at > 0 && ids[at - 1]! > id) at -= 1;
  return [...ids.slice(0, at), id, ...ids.slice(at)];
}

function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  const { [key]: _gone, ...rest } = record;
  return rest;
}

/** Same stored message: compared by what changes (status, text, times), so a repeat keeps the old reference. */
function sameMessage(a: Message, b: Message): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

// -- derived views --------------------------------------------------------------------

const pathCache = new WeakMap<ConversationState, PathMessage[]>();
const itemCache = new WeakMap<Message, PathMessage>();

/**
 * The active branch, root first, each message with its siblings: what `conversations.get`
 * returns. Memoized per state, and each item is reused while its message and sibling list
 * are the same objects, so a delta re-renders one message only. Stops at the first message
 * this state has not seen (see `pathIsComplete`).
 */
export function activePath(state: ConversationState): PathMessage[] {
  const cached = pathCache.get(state);
  if (cached !== undefined) return cached;
  const path: PathMessage[] = [];
  const seen = new Set<string>();
  let id = state.conversation?.activeLeafId ?? null;
  while (id !== null && !seen.has(id)) {
    seen.add(id);
    const message = state.messages[id];
    if (message === undefined) break;
    const siblingIds = state.children[message.parentId ?? ROOT] ?? [message.id];
    let item = itemCache.get(message);
    if (item === undefined || item.siblingIds !== siblingIds) {
      item = { ...message, siblingIds };
      itemCache.set(message, item);
    }
    path.push(item);
    id = message.parentId;
  }
  path.reverse();
  pathCache.set(state, path);
  return path;
}

/** False when the active branch reaches a message this state never saw (a switch to an old branch): reload. */
export function pathIsComplete(state: ConversationState): boolean {
  const leaf = state.conversation?.activeLeafId ?? null;
  if (leaf === null) return true;
  const path = activePath(state);
  return path.length > 0 && path[0]!.parentId === null && path[path.length - 1]!.id === leaf;
}

/** True while any assistant message of this conversation streams (the app's old `isStreaming`). */
export function isStreaming(state: ConversationState): boolean {
  for (const _ in state.streaming) return true;
  return false;
}

/** The sibling `offset` steps away (-1: previous, +1: next) for "‹ 2 / 3 ›" arrows; null at an end. */
export function siblingOf(state: ConversationState, messageId: string, offset: number): string | null {
  const message = state.messages[messageId];
  if (message === undefined) return null;
  const ids = state.children[message.parentId ?? ROOT] ?? [];
  return ids[ids.indexOf(messageId) + offset] ?? null;
}
