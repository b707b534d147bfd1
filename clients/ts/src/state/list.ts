/**
 * The conversation list (the sidebar) as a pure reducer.
 *
 * Items stay in the server's order, newest `updatedAt` first (ties: larger id first),
 * so folding events gives exactly what `conversations.list` would answer. Only the
 * pages loaded are held: a conversation updated outside them joins only if it now
 * sorts among them (sending to an old conversation brings it to the top).
 */
import type { Conversation, ConversationsListResult, SidecarEvent } from "../generated/protocol.js";

export interface ConversationListState {
  /** The last event reflected (unrelated events do not bump it). */
  seq: number;
  /** Newest activity first. */
  items: Conversation[];
  /** Where the next page starts; null when every conversation is loaded. */
  nextCursor: string | null;
}

export function emptyConversationList(): ConversationListState {
  return { seq: -1, items: [], nextCursor: null };
}

export function conversationListFromSnapshot(result: ConversationsListResult): ConversationListState {
  return { seq: result.seq, items: result.items, nextCursor: result.nextCursor };
}

/** Appends the next page (`conversations.list {cursor}`); items already held are kept. */
export function appendConversationPage(
  state: ConversationListState,
  page: ConversationsListResult,
): ConversationListState {
  const held = new Set(state.items.map((c) => c.id));
  const added = page.items.filter((c) => !held.has(c.id));
  return { ...state, items: [...state.items, ...added].sort(newestFirst), nextCursor: page.nextCursor };
}

export function reduceConversationList(state: ConversationListState, event: SidecarEvent): ConversationListState {
  if (event.seq <= state.seq) return state;
  let items: Conversation[];
  switch (event.type) {
    case "conversation.created":
    case "conversation.updated":
      items = place(state, event.conversation);
      break;
    case "conversation.deleted":
      items = state.items.filter((c) => c.id !== event.conversationId);
      if (items.length === state.items.length) return state;
      break;
    default:
      return state;
  }
  return items === state.items ? state : { ...state, items, seq: event.seq };
}

function place(state: ConversationListState, conversation: Conversation): Conversation[] {
  const rest = state.items.filter((c) => c.id !== conversation.id);
  const last = rest[rest.length - 1];
  // Beyond the loaded pages it belongs to a page not fetched yet.
  if (state.nextCursor !== null && last !== undefined && newestFirst(conversation, last) > 0) {
    return rest.length === state.items.length ? state.items : rest;
  }
  let at = 0;
  while (at < rest.length && newestFirst(rest[at]!, conversation) < 0) at += 1;
  return [...rest.slice(0, at), conversation, ...rest.slice(at)];
}

/** The server's order: `updatedAt` DESC, then id DESC (fixed-width RFC 3339 strings compare as times). */
export function newestFirst(a: Conversation, b: Conversation): number {
  if (a.updatedAt !== b.updatedAt) return a.updatedAt > b.updatedAt ? -1 : 1;
  return a.id === b.id ? 0 : a.id > b.id ? -1 : 1;
}
