"""Pure message-tree logic: branch summaries and one-line previews.

A conversation is a tree of messages (editing or regenerating adds a sibling);
every leaf ends one branch, and so does every named message inside the tree. Ids sort by creation time, so "oldest sibling" is
simply the smallest id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sidecar.protocol.objects import Branch

MAIN_BRANCH_NAME = "Main"
PREVIEW_CHARS = 80


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """The first `limit` characters of `text` with whitespace runs collapsed to one space."""
    # Collapsing a prefix gives a prefix of the collapsed whole, so a long text
    # only needs its head scanned unless it is mostly whitespace.
    head = " ".join(text[: limit * 4].split())
    if len(head) < limit and len(text) > limit * 4:
        head = " ".join(text.split())
    return head[:limit]


def summarize_branches(
    nodes: Iterable[tuple[str, str | None, str]],
    names: Mapping[str, str],
    active_leaf_id: str | None,
) -> list[Branch]:
    """One Branch per leaf, and one per named message inside the tree (a branch that
    ends there, as the old app's did), ordered by id.

    `nodes` are (id, parent_id, updated_at) of every message of one
    conversation, sorted by id. A branch's fork is its first message that
    older branches do not share (Branch.fork_message_id): the deepest message
    of its root-to-leaf path that is not the oldest of its siblings, since
    below that point the path takes the oldest child everywhere and every
    branch sharing the message is younger. The branch that always takes the
    oldest sibling is the main one and "forks" at its root.
    """
    children: dict[str | None, list[str]] = {}
    updated: dict[str, str] = {}
    for id_, parent_id, updated_at in nodes:
        children.setdefault(parent_id, []).append(id_)
        updated[id_] = updated_at

    # For each message: its path length from the root, the deepest non-oldest
    # sibling on its path (None while there is none) and its root.
    info: dict[str, tuple[int, str | None, str]] = {}
    stack: list[tuple[str, str | None, str | None, int, str]] = [
        (root, None, None, 1, root) for root in children.get(None, ())
    ]
    while stack:  # iterative: long chats are deeper than Python's recursion limit
        id_, parent_id, fork, depth, root = stack.pop()
        if id_ != children[parent_id][0]:
            fork = id_
        info[id_] = (depth, fork, root)
        stack.extend((child, id_, fork, depth + 1, root) for child in children.get(id_, ()))

    branches = []
    for end in sorted(id_ for id_ in info if id_ not in children or id_ in names):
        depth, fork, root = info[end]
        at_leaf = end not in children
        branches.append(
            Branch(
                leaf_id=end,
                name=names.get(end, MAIN_BRANCH_NAME if fork is None else None),
                ends_at_leaf=at_leaf,
                fork_message_id=(fork or root) if at_leaf else end,
                message_count=depth,
                updated_at=updated[end],
                active=end == active_leaf_id,
            )
        )
    return branches
