"""`make demo`: a sidecar on a throwaway data dir, with a short scripted session to show it works.

It starts `sidecar serve` as a child process (exactly as the desktop app will),
reads its ready line, connects over the WebSocket, creates a conversation and
lists it, prints how to connect yourself, and keeps the sidecar running until
Ctrl-C (or for DEMO_SECONDS seconds when that variable is set).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile


async def _show(ready: dict) -> None:
    from websockets.asyncio.client import connect

    async with connect(
        ready["url"], additional_headers={"Authorization": f"Bearer {ready['token']}"}
    ) as ws:

        async def call(ident: int, method: str, params: dict) -> dict:
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})
            )
            while True:
                message = json.loads(await ws.recv())
                if message.get("id") == ident:
                    return message
                print("  event   ", json.dumps(message["params"])[:160])

        for ident, (method, params) in enumerate(
            [
                ("initialize", {"protocolVersion": 1, "clientInfo": {"name": "demo"}}),
                ("events.subscribe", {}),
                ("conversations.create", {"title": "Hello from the demo"}),
                ("conversations.list", {"limit": 5}),
            ],
            start=1,
        ):
            print(f"→ {method} {json.dumps(params)}")
            print("  response", json.dumps(await call(ident, method, params))[:300])


def main() -> int:
    seconds = float(os.environ.get("DEMO_SECONDS", "0")) or None
    with tempfile.TemporaryDirectory(prefix="sidecar-demo-") as data_dir:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sidecar", "serve", "--data-dir", data_dir],
            stdout=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            ready = json.loads(proc.stdout.readline())
            print(f"sidecar ready: {ready['url']}  (pid {ready['pid']}, data dir {data_dir})")
            asyncio.run(_show(ready))
            print(
                "\nConnect yourself (any WebSocket client):\n"
                f"  URL:    {ready['url']}/?token={ready['token']}\n"
                f"  or header  Authorization: Bearer {ready['token']}\n"
                '  first frame: {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}\n'
                "Press Ctrl-C to stop."
            )
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pass
        except KeyboardInterrupt:
            pass
        finally:
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
