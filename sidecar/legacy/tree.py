"""The old app's branches become one message tree; old rows get stable sidecar ids.

The old app stored each branch as a full list of messages: creating a branch
from a message copied the path up to that message into the new branch, and the
branch's own messages followed. The sidecar keeps one tree instead, so each
branch is laid over the path it was created from (its parent branch, cut at
`created_from_message_id` when known): leading messages equal to that path
(same role and text) are the copies and become the existing messages, and the
first message that differs starts a new sibling under the last shared one.
Main is laid first, so its messages are the oldest at every fork and it stays
the sidecar's "Main" branch. A branch that holds nothing but copies has no leaf
of its own and so no name in the sidecar (counted as `merged`). A branch that
shares no message with its parent becomes a second root.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sidecar.ids import uuid7
from sidecar.legacy import read

ROLES = frozenset({"user", "assistant"})


def stable_id(kind: str, legacy_id: str, ms: int, order: int) -> str:
    """The sidecar id of an old row: a UUIDv7 of its time, then its row order (rows of
    the same millisecond keep the old app's order), then a hash of kind and old id.
    The same row gets the same id at every import, which is what makes it idempotent."""
    low = int.from_bytes(hashlib.sha256(f"{kind}\0{legacy_id}".encode()).digest()[:4], "big")
    return uuid7(ms, order & ((1 << 42) - 1), low)


@dataclass(slots=True)
class Node:
    id: str
    parent_id: str | None
    ms: int
    order: int
    message: read.Message


@dataclass(slots=True)
class Tree:
    nodes: list[Node] = field(default_factory=list)
    """Every message to store, parents before children."""
    ids: dict[str, str] = field(default_factory=dict)
    """Old message id -> sidecar message id (a copy maps to the message it copied)."""
    names: dict[str, str] = field(default_factory=dict)
    """Sidecar leaf id -> branch name."""
    active_leaf_id: str | None = None
    merged: int = 0
    system_prompt: str | None = None
    """The first system message's text (the sidecar keeps it on the conversation)."""
    skipped: int = 0
    """Later system messages and unknown roles."""


def build(
    conversation: read.Conversation,
    branches: list[read.Branch],
    messages: list[read.Message],
) -> Tree:
    tree = Tree()
    start = conversation.created_at or 0
    ordered = sorted(branches, key=lambda b: (b.created_at or start, b.row_order))
    known = {b.id for b in ordered}
    main = next((b for b in ordered if b.parent_branch_id not in known), None)
    main_key = main.id if main else ""
    lists: dict[str, list[read.Message]] = {main_key: []}
    for b in ordered:
        lists.setdefault(b.id, [])
    for m in sorted(messages, key=lambda m: (m.created_at or start, m.row_order)):
        if m.role not in ROLES:
            if m.role == "system" and tree.system_prompt is None:
                tree.system_prompt = m.content
            else:
                tree.skipped += 1
            continue
        lists[m.branch_id if m.branch_id in known else main_key].append(m)

    nodes: dict[str, Node] = {}
    chains: dict[str, list[str]] = {}
    for key, branch in _parents_first(main_key, main, ordered):
        base: list[str] = []
        if branch is not main:
            base = chains.get(branch.parent_branch_id or "", chains[main_key])
            fork = tree.ids.get(branch.created_from_message_id or "")
            if fork in base:
                base = base[: base.index(fork) + 1]
        own = lists[key]
        shared = 0
        while shared < min(len(own), len(base)) and _same(own[shared], nodes[base[shared]].message):
            tree.ids[own[shared].id] = base[shared]
            shared += 1
        chain = base[:shared]
        for m in own[shared:]:
            node = _node(m, nodes[chain[-1]] if chain else None, start)
            nodes[node.id] = node
            tree.nodes.append(node)
            tree.ids[m.id] = node.id
            chain.append(node.id)
        chains[key] = chain

    parents = {n.parent_id for n in tree.nodes}
    leaves: set[str] = set()
    for key, branch in _parents_first(main_key, main, ordered):
        chain = chains[key]
        leaf = chain[-1] if chain and chain[-1] not in parents else None
        if leaf is None or leaf in leaves:
            tree.merged += branch is not main
            continue
        leaves.add(leaf)
        if branch is not None and branch.name and not (branch is main and branch.name == "Main"):
            tree.names[leaf] = branch.name
    active = chains.get(conversation.active_branch_id or "") or chains[main_key]
    tree.active_leaf_id = _down_to_leaf(active[-1], tree.nodes) if active else None
    if tree.active_leaf_id is None and tree.nodes:
        tree.active_leaf_id = _down_to_leaf(tree.nodes[0].id, tree.nodes)
    return tree


def _parents_first(
    main_key: str, main: read.Branch | None, ordered: list[read.Branch]
) -> list[tuple[str, read.Branch | None]]:
    """Main, then every other branch after the branch it was created from."""
    out: list[tuple[str, read.Branch | None]] = [(main_key, main)]
    done = {main_key}
    pending = [b for b in ordered if b is not main]
    while pending:
        ready = [b for b in pending if b.parent_branch_id in done or b.parent_branch_id is None]
        if not ready:  # a cycle or a dangling parent: lay the rest over Main
            ready = pending
        for b in ready:
            out.append((b.id, b))
            done.add(b.id)
        pending = [b for b in pending if b.id not in done]
    return out


def _same(a: read.Message, b: read.Message) -> bool:
    return a.role == b.role and a.content == b.content


def _node(m: read.Message, parent: Node | None, start: int) -> Node:
    """A new tree message whose id sorts after its parent's, even if the clock went back."""
    ms = m.created_at or (parent.ms if parent else start)
    if parent is not None and (ms, m.row_order) <= (parent.ms, parent.order):
        ms = parent.ms + 1
    return Node(
        stable_id("message", m.id, ms, m.row_order),
        parent.id if parent else None,
        ms,
        m.row_order,
        m,
    )


def _down_to_leaf(node_id: str, nodes: list[Node]) -> str:
    """`node_id`, or where its oldest children lead: the active message must be a leaf."""
    children: dict[str, str] = {}
    for n in nodes:
        if n.parent_id is not None and (
            n.parent_id not in children or n.id < children[n.parent_id]
        ):
            children[n.parent_id] = n.id
    while node_id in children:
        node_id = children[node_id]
    return node_id
