"""The launch contract: `sidecar serve` prints one ready line on stdout and logs to stderr.

Nothing but the ready line ever goes to stdout. Every launch failure (bad flag,
unusable data dir, port in use) is one line on stderr and a non-zero exit,
never a traceback. Imports are deferred to the branch that needs them: the
time to the ready line is a cost the user sees at every app start.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import sys
from pathlib import Path

import platformdirs

from sidecar.config import ServeConfig

EXIT_USAGE = 2
EXIT_FAILURE = 1


class LaunchError(Exception):
    """A launch problem the user can fix; printed as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + error
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sidecar", description="The chat sidecar.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = sub.add_parser("serve", help="serve the JSON-RPC WebSocket on loopback")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    serve.add_argument("--port", type=_port, default=0, help="0 picks a free port")
    serve.add_argument("--data-dir", type=Path, help="default: the platform's user data dir")
    serve.add_argument("--db", type=Path, help="SQLite file (default DATA_DIR/sidecar.db)")
    serve.add_argument("--token", help="default: $SIDECAR_TOKEN, else a fresh random one")
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN")
    serve.add_argument("--watch-stdin", action="store_true", help="exit when stdin closes")
    serve.add_argument("--parent-pid", type=_positive, metavar="PID", help="exit when PID is gone")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--log-format", default="text", choices=["text", "json"])
    serve.add_argument("--replay-buffer", type=_positive, default=100_000, metavar="EVENTS")
    serve.add_argument(
        "--max-frame-bytes", type=_positive, default=16 * 1024 * 1024, metavar="BYTES"
    )
    serve.add_argument(
        "--send-queue",
        type=_positive,
        default=20_000,
        metavar="FRAMES",
        help="frames a connection may have waiting before it is closed with 4008",
    )
    serve.add_argument(
        "--client-tool-grace",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long a client tool call waits for its client to come back after its "
        "connection closed, before the call fails",
    )

    legacy = sub.add_parser(
        "import-legacy", help="import the old app's SQLite data (sidecar must not be running)"
    )
    legacy.add_argument(
        "--db", type=Path, help="the old app's app.db (default: the one in its data folder)"
    )
    legacy.add_argument(
        "--files-dir",
        type=Path,
        help="the old app's attachment files (default: attachments/ beside the database)",
    )
    legacy.add_argument("--data-dir", type=Path, help="the sidecar's data dir, as for serve")
    legacy.add_argument("--sidecar-db", type=Path, help="the sidecar's SQLite file (serve's --db)")
    legacy.add_argument("--dry-run", action="store_true", help="print what it would import")
    legacy.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def data_paths(data_dir: Path | None, db: Path | None) -> tuple[Path, Path]:
    """(data dir, database file) from `--data-dir` and `--db`: the platform's user data
    dir and `sidecar.db` in it unless given."""
    if db is not None:
        return data_dir or db.parent, db
    if data_dir is None:
        data_dir = Path(platformdirs.user_data_dir("chat-sidecar", appauthor=False))
    return data_dir, data_dir / "sidecar.db"


def _resolve(args: argparse.Namespace) -> ServeConfig:
    if not _loopback(args.host):
        raise LaunchError(
            f"--host {args.host} is not a loopback address; the sidecar serves this machine only"
        )
    data_dir, db_path = data_paths(args.data_dir, args.db)
    for directory in {data_dir, db_path.parent}:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LaunchError(
                f"data dir {directory} is not usable: {exc.strerror or exc}"
            ) from None
        if not os.access(directory, os.W_OK | os.X_OK):
            raise LaunchError(f"data dir {directory} is not writable")
    token = args.token or os.environ.get("SIDECAR_TOKEN")
    if not token:
        token = secrets.token_urlsafe(32)
    return ServeConfig(
        token=token,
        db_path=db_path,
        host=args.host,
        port=args.port,
        allow_origins=tuple(args.allow_origin),
        watch_stdin=args.watch_stdin,
        parent_pid=args.parent_pid,
        log_level=args.log_level,
        log_format=args.log_format,
        replay_buffer=args.replay_buffer,
        max_frame_bytes=args.max_frame_bytes,
        send_queue=args.send_queue,
        client_tool_grace=args.client_tool_grace,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["mcp-guard"]:  # internal: the watchdog an MCP server runs under
        from sidecar.guard import main as guard

        return guard(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        # Each command imports what it runs, when it runs: `--help` and a launch stay fast.
        if args.command == "serve":
            from sidecar import logs

            config = _resolve(args)
            logs.setup(config.log_level, config.log_format)
            logs.redact(config.token)
            from sidecar.process import run

            return run(config)
        if args.command == "import-legacy":
            from sidecar.legacy.command import run as import_legacy
            from sidecar.legacy.read import LegacyError

            try:
                return import_legacy(args, data_paths(args.data_dir, args.sidecar_db)[1])
            except LegacyError as exc:
                raise LaunchError(str(exc)) from None
        raise AssertionError(f"unhandled command {args.command}")  # argparse lists them all
    except LaunchError as exc:
        sys.stderr.write(f"sidecar: error: {exc}\n")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 0
