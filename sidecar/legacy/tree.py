"""The old app's branches as one message tree; old rows get stable sidecar ids.

In the old app every new message goes to Main, and "create a branch from
message M" copies Main's path up to M under a new branch name. So an old
branch is a named path that ends at M, where M usually has later messages on
Main. Here Main becomes the chain of the conversation's messages in the order
the old app showed them (time, then row order), and each other branch becomes a
name on the message its path ends at: a named branch end inside the tree,
which `branches.list` shows and `branches.switch {leafId}` opens exactly. The
rare branch that holds messages of its own gets them as a real fork under the
last message it shares with Main, and its name on their last one.

One message ends one branch: a branch whose path ends where an older branch
ends (Main's last message, or the M of an older branch) shows the same
messages, and is reported by name as such instead of being named twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sidecar.ids import uuid7
from sidecar.legacy import read

ROLES = frozenset({"user", "assistant"})
MAIN = "Main"


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
    """Old message id -> sidecar message id."""
    names: dict[str, str] = field(default_factory=dict)
    """Sidecar message id -> the name of the branch that ends there."""
    active_leaf_id: str | None = None
    """Main's last message: the old app opened a conversation on Main."""
    same_as: list[tuple[str, str]] = field(default_factory=list)
    """(branch name, the older branch it shows the same messages as)."""
    empty: list[str] = field(default_factory=list)
    """Names of branches with no message at all."""
    skipped: int = 0
    """Messages of a role other than user and assistant."""


def build(
    conversation: read.Conversation,
    messages: list[read.Message],
    branches: list[read.Branch],
    rows: list[read.TreeRow],
) -> Tree:
    tree = Tree()
    start = conversation.created_at or 0
    ordered = sorted(branches, key=lambda b: (b.created_at or start, b.row_order))
    main = _main_branch(conversation.id, ordered)
    others = [b for b in ordered if b is not main]
    other_ids = {b.id for b in others}
    held: dict[str, set[str]] = {}  # old message id -> the branches that hold it
    for row in rows:
        held.setdefault(row.message_id, set()).add(row.branch_id)

    def on_main(m: read.Message) -> bool:
        branch_ids = held.get(m.id, set())
        return not branch_ids or not branch_ids <= other_ids

    kept = []
    for m in sorted(messages, key=lambda m: (m.created_at or start, m.row_order)):
        if m.role in ROLES:
            kept.append(m)
        else:
            tree.skipped += 1
    nodes: dict[str, Node] = {}
    chain: list[Node] = []
    for m in kept:
        if on_main(m):
            chain.append(_add(tree, nodes, m, chain[-1] if chain else None, start))
    position = {node.id: i for i, node in enumerate(chain)}
    if chain:
        tree.active_leaf_id = chain[-1].id
        ends = {chain[-1].id: main.name if main and main.name else MAIN}
        if main is not None and main.name and main.name != MAIN:
            tree.names[chain[-1].id] = main.name
    else:
        ends = {}

    for branch in others:
        name = branch.name or "Branch"
        mine = [m for m in kept if branch.id in held.get(m.id, ())]
        shared = [tree.ids[m.id] for m in mine if on_main(m)]
        own = [m for m in mine if not on_main(m)]
        end = max(shared, key=position.__getitem__) if shared else None
        parent = nodes[end] if end else None
        for m in own:
            parent = _add(tree, nodes, m, parent, start)
        end = parent.id if parent else None
        if end is None:
            tree.empty.append(name)
        elif end in ends:
            tree.same_as.append((name, ends[end]))
        else:
            ends[end] = name
            tree.names[end] = name
    return tree


def _main_branch(conversation_id: str, ordered: list[read.Branch]) -> read.Branch | None:
    """The branch an upgrade made Main (`main-<conversation id>`), else the oldest 'Main'."""
    by_id = next((b for b in ordered if b.id == f"main-{conversation_id}"), None)
    return by_id or next((b for b in ordered if b.name == MAIN), None)


def _add(
    tree: Tree, nodes: dict[str, Node], m: read.Message, parent: Node | None, start: int
) -> Node:
    """A new tree message whose id sorts after its parent's, even if the clock went back."""
    ms = m.created_at or (parent.ms if parent else start)
    if parent is not None and (ms, m.row_order) <= (parent.ms, parent.order):
        ms = parent.ms + 1
    node = Node(
        stable_id("message", m.id, ms, m.row_order),
        parent.id if parent else None,
        ms,
        m.row_order,
        m,
    )
    nodes[node.id] = node
    tree.nodes.append(node)
    tree.ids[m.id] = node.id
    return node
