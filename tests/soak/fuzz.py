"""Hostile frames, generated fast from a seed (hypothesis draws ~100 a second here: far too
slow for 100,000; these strategies follow tests/test_fuzz.py's, as plain `random`).

Every frame is one a client could send, and none may change stored state: requests to
methods that write always carry an unknown member (refused by the strict params), and
the only well-formed calls are to methods that only read, with hostile values (FTS
queries full of syntax, lone surrogates, huge limits, ids that do not exist).
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from typing import Any

from sidecar.rpc.api import METHODS

READ_ONLY = (
    "conversations.list",
    "conversations.get",
    "conversations.tree",
    "conversations.export",
    "branches.list",
    "models.list",
    "providers.list",
    "settings.get",
    "systemPrompts.list",
    "tools.list",
    "usage.summary",
)
NASTY_TEXT = (
    '"',
    "'",
    "*",
    "NEAR(",
    "a OR b",
    "-x",
    "^",
    "\u0000",
    "\ud800",
    "\udfff",
    "%",
    "_",
    "\\",
    "😀" * 50,
    "x" * 5000,
    "AND",
    "title:",
    "{}",
    "Ä\u0308",
    "İ",
    "ß",
)


class Frames:
    def __init__(self, seed: int, ids: list[str]) -> None:
        self.rng = random.Random(seed)
        self.ids = ids  # real conversation ids, so reads reach real rows
        self.methods = sorted(METHODS)
        self.members = {
            name: sorted(spec.params.model_json_schema(by_alias=True).get("properties", {}))
            for name, spec in METHODS.items()
        }

    def __iter__(self) -> Iterator[str | bytes]:
        makers = (
            (self.junk, 2),
            (lambda: json.dumps(self.value()), 2),
            (lambda: self.dump(self.wrong_params()), 4),
            (lambda: self.dump(self.wrong_types()), 4),
            (lambda: self.dump(self.read_only()), 6),
            (lambda: self.dump(self.bad_envelope()), 3),
            (lambda: self.dump(self.batch()), 2),
            (self.deep, 1),
            (self.numbers, 1),
            (self.mutated, 3),
        )
        choices = [m for m, weight in makers for _ in range(weight)]
        while True:
            yield self.rng.choice(choices)()

    # -- pieces ------------------------------------------------------------------

    def text(self, size: int = 12) -> str:
        rng = self.rng
        if rng.random() < 0.3:
            return rng.choice(NASTY_TEXT) + rng.choice(NASTY_TEXT)
        alphabet = string.printable if rng.random() < 0.7 else "".join(map(chr, range(0x80, 0x2FF)))
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(size + 1)))

    def value(self, depth: int = 0) -> Any:
        rng = self.rng
        roll = rng.random()
        if depth > 3 or roll < 0.5:
            return rng.choice(
                [
                    None,
                    True,
                    False,
                    rng.randint(-(2**70), 2**70),
                    rng.uniform(-1e300, 1e300),
                    self.text(),
                    0,
                    -1,
                ]
            )
        if roll < 0.75:
            return [self.value(depth + 1) for _ in range(rng.randrange(4))]
        return {self.text(6): self.value(depth + 1) for _ in range(rng.randrange(4))}

    def ident(self) -> Any:
        return self.rng.choice([self.rng.randint(-(2**40), 2**40), self.text(8), None])

    def dump(self, obj: Any) -> str:
        text = json.dumps(obj, ensure_ascii=self.rng.random() < 0.5)
        return text if _encodable(text) else json.dumps(obj)

    # -- requests ----------------------------------------------------------------

    def request(self, method: str, params: Any) -> dict[str, Any]:
        frame = {"jsonrpc": "2.0", "method": method, "params": params}
        if self.rng.random() < 0.9:
            frame["id"] = self.ident()
        return frame

    def wrong_params(self) -> dict[str, Any]:
        """A known method; random members plus one unknown: always refused."""
        params = {self.text(8): self.value() for _ in range(self.rng.randrange(3))}
        params["zz" + self.text(4)] = self.value()
        return self.request(self.rng.choice(self.methods), params)

    def wrong_types(self) -> dict[str, Any]:
        """The method's own member names with random values, plus an unknown member."""
        method = self.rng.choice(self.methods)
        params = {m: self.value() for m in self.members[method] if self.rng.random() < 0.7}
        params["zz"] = 1
        return self.request(method, params)

    def read_only(self) -> dict[str, Any]:
        """Well-formed calls to methods that only read, with hostile values."""
        rng = self.rng
        method = rng.choice(READ_ONLY)
        conversation = rng.choice([*self.ids, self.text(10), "x" * 100])
        params: dict[str, Any] = {}
        if method == "conversations.list":
            params = {"query": self.text(30), "limit": rng.choice([1, 500, rng.randint(1, 500)])}
            if rng.random() < 0.3:
                params["cursor"] = self.text(40)
        elif method in ("conversations.get", "conversations.tree", "branches.list"):
            params = {"conversationId": conversation}
        elif method == "conversations.export":
            params = {"conversationId": conversation, "format": rng.choice(["json", "markdown"])}
        elif method == "models.list" and rng.random() < 0.5:
            params = {"provider": self.text(10) or "p"}
        elif method == "usage.summary":
            params = {
                "groupBy": rng.choice(["model", "day", "conversation"]),
                "from": rng.choice(["2026-01-01", "1970-01-01T00:00:00Z", "9999-12-31"]),
            }
        return self.request(method, params)

    def bad_envelope(self) -> dict[str, Any]:
        frame = self.request(self.rng.choice(self.methods), {"zz": 1})
        broken = self.rng.choice(
            [
                ("jsonrpc", self.rng.choice(["1.0", 2, None, "2.0 "])),
                ("method", self.value()),
                ("id", self.rng.choice([True, {"a": 1}, [1], 1.5, -0.0])),
                ("params", self.rng.choice([1, "x", True, None])),
                ("extra", self.value()),
            ]
        )
        frame[broken[0]] = broken[1]
        if self.rng.random() < 0.2:
            del frame["jsonrpc"]
        return frame

    def batch(self) -> list[Any]:
        makers = (
            self.wrong_params,
            self.wrong_types,
            self.read_only,
            self.bad_envelope,
            self.value,
        )
        return [self.rng.choice(makers)() for _ in range(self.rng.randrange(1, 9))]

    # -- raw frames --------------------------------------------------------------

    def junk(self) -> str | bytes:
        if self.rng.random() < 0.3:
            return self.rng.randbytes(self.rng.randrange(1, 200))  # a binary frame
        text = self.text(200) or " "
        return text if _encodable(text) else text.encode("utf-8", "surrogatepass")

    def deep(self) -> str:
        n = self.rng.randrange(100, 20000)
        if self.rng.random() < 0.5:
            return "[" * n + "]" * n
        inner = '{"a":' * n + "1" + "}" * n
        return (
            f'{{"jsonrpc":"2.0","id":1,"method":"conversations.list","params":{{"query":{inner}}}}}'
        )

    def numbers(self) -> str:
        number = self.rng.choice(
            ["1e400", "-1e400", "1e-400", "-0", "NaN", "Infinity", str(2**64), "1" * 400, "0x10"]
        )
        member = self.rng.choice(['"limit"', '"id"'])
        return f'{{"jsonrpc":"2.0","id":{number},"method":"conversations.list","params":{{{member}:{number}}}}}'

    def mutated(self) -> bytes:
        """A read-only call with a few bytes flipped, added or cut."""
        raw = bytearray(self.dump(self.read_only()).encode())
        for _ in range(self.rng.randrange(1, 5)):
            i = self.rng.randrange(len(raw))
            op = self.rng.random()
            if op < 0.4:
                raw[i] = self.rng.randrange(256)
            elif op < 0.7:
                raw.insert(i, self.rng.randrange(256))
            elif len(raw) > 1:
                del raw[i]
        if self.rng.random() < 0.2:
            raw = raw[: self.rng.randrange(len(raw))]
        return bytes(raw)


def _encodable(text: str) -> bool:
    """Whether a text frame can carry it (lone surrogates cannot be UTF-8)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
