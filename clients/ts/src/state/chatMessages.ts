/**
 * The old app's message shape over a conversation state.
 *
 * The desktop app renders a list of `{ type: "sent" | "received", content, ... }` items and,
 * apart from it, the text of the reply being streamed. `toChatMessages` gives that list
 * from the active branch, and `liveReply` the reply in progress, so the app's components
 * can stay as they are while the data comes from the sidecar.
 */
import type { Attachment, ErrorInfoOutput, UsageOutput } from "../generated/protocol.js";
import { activePath, type ConversationState, type MessageStatus, type PathMessage } from "./conversation.js";

/** One item of the app's message list. */
export interface ChatMessage {
  id: string;
  /** `sent` for the user's messages, `received` for the assistant's. */
  type: "sent" | "received";
  content: string;
  status: MessageStatus;
  createdAt: string;
  /** The model that answered (received messages), as the sidecar stored it. */
  modelId: string | null;
  /** The message and its siblings ("‹ 2 / 3 ›"), itself included. */
  siblingIds: string[];
  /** The reasoning shown folded, when there was any. */
  thinking?: string;
  /** Metadata only (`attachments.get` fetches the bytes); absent when there are none. */
  attachments?: Attachment[];
  /** Tokens and cost of every provider call of the reply; absent for sent messages. */
  usage?: UsageOutput;
  /** Why a `failed` reply failed (safe to show). */
  error?: ErrorInfoOutput;
}

/** The reply being streamed, for the app's streaming-text store. */
export interface LiveReply {
  messageId: string;
  /** `pending` until the provider starts, then `streaming`. */
  status: MessageStatus;
  text: string;
  thinking: string;
  /** Between the reasoning's start and end: show "thinking…". */
  thinkingActive: boolean;
}

export interface ChatMessagesOptions {
  /**
   * Keep the reply in progress in the list (default false: like the old app, the list
   * holds what has ended and `liveReply` the text still coming).
   */
  includeLive?: boolean;
}

const LIVE: ReadonlySet<MessageStatus> = new Set(["pending", "streaming"]);
const itemCache = new WeakMap<PathMessage, ChatMessage>();

/** The message as the app's list shows it; the same object for the same path item. */
export function toChatMessage(message: PathMessage): ChatMessage {
  const cached = itemCache.get(message);
  if (cached !== undefined) return cached;
  const item: ChatMessage = {
    id: message.id,
    type: message.role === "user" ? "sent" : "received",
    content: message.content,
    status: message.status,
    createdAt: message.createdAt,
    modelId: message.modelId,
    siblingIds: message.siblingIds,
  };
  if (message.thinking) item.thinking = message.thinking;
  if (message.attachments.length > 0) item.attachments = message.attachments;
  if (message.usage !== null) item.usage = message.usage;
  if (message.error !== null) item.error = message.error;
  itemCache.set(message, item);
  return item;
}

/**
 * The active branch, root first, in the app's shape. Items keep their identity while
 * their message does not change, so a keyed `{#each}` redraws only what changed.
 */
export function toChatMessages(state: ConversationState, options: ChatMessagesOptions = {}): ChatMessage[] {
  const path = activePath(state);
  const shown = options.includeLive ? path : path.filter((m) => !LIVE.has(m.status));
  return shown.map(toChatMessage);
}

/** The reply of the active branch still in progress, or null when none is. */
export function liveReply(state: ConversationState): LiveReply | null {
  const last = activePath(state).at(-1);
  if (last === undefined || !LIVE.has(last.status)) return null;
  const info = state.streaming[last.id];
  return {
    messageId: last.id,
    status: last.status,
    text: last.content,
    thinking: info?.thinking ?? last.thinking ?? "",
    thinkingActive: info?.thinkingActive ?? false,
  };
}
