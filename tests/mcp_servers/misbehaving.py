"""A tiny stdio MCP server that misbehaves on purpose (standard library only).

It answers `initialize` and `tools/list` properly, then on `tools/call`:
`hang` never answers, `die` exits mid-call, `garbage` answers with something that is
not a tool result, `echo` answers properly. `ping` is answered; everything else gets
"method not found". With --hang-initialize it never answers `initialize`.
"""

from __future__ import annotations

import json
import os
import sys

TOOLS = [
    {
        "name": name,
        "description": f"{name} (misbehaving on purpose)",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
    }
    for name in ("hang", "die", "garbage", "echo")
]


def send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    hang_initialize = "--hang-initialize" in sys.argv
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        method, ident = msg.get("method"), msg.get("id")
        if ident is None:
            continue  # a notification
        if method == "initialize":
            if hang_initialize:
                continue
            send(
                {
                    "jsonrpc": "2.0",
                    "id": ident,
                    "result": {
                        "protocolVersion": msg["params"]["protocolVersion"],
                        "capabilities": {"tools": {}},
                        "serverInfo": {"name": "misbehaving", "version": "1.0"},
                    },
                }
            )
        elif method == "tools/list":
            send({"jsonrpc": "2.0", "id": ident, "result": {"tools": TOOLS}})
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": ident, "result": {}})
        elif method == "tools/call":
            name = msg["params"]["name"]
            if name == "hang":
                continue
            if name == "die":
                os._exit(3)
            if name == "garbage":
                send({"jsonrpc": "2.0", "id": ident, "result": {"content": "not a list", "x": 1}})
                continue
            text = (msg["params"].get("arguments") or {}).get("text", "")
            send(
                {
                    "jsonrpc": "2.0",
                    "id": ident,
                    "result": {"content": [{"type": "text", "text": f"echo: {text}"}]},
                }
            )
        else:
            send(
                {
                    "jsonrpc": "2.0",
                    "id": ident,
                    "error": {"code": -32601, "message": "method not found"},
                }
            )


if __name__ == "__main__":
    main()
