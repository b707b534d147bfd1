"""The launch contract: ready line, flags, one-line errors, and every way the process stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.harness import launch

SERVE = [sys.executable, "-m", "sidecar", "serve"]


def test_ready_line_is_the_only_stdout_and_has_the_contract_fields(tmp_path):
    sc = launch(tmp_path, "--token", "launch-token-123456")
    try:
        ready = sc.ready
        assert set(ready) == {"type", "url", "port", "token", "pid", "protocolVersion", "version"}
        assert ready["type"] == "ready"
        assert ready["url"] == f"ws://127.0.0.1:{ready['port']}"
        assert ready["port"] > 0
        assert ready["token"] == "launch-token-123456"
        assert ready["pid"] == sc.proc.pid
        assert ready["protocolVersion"] == 1
        assert ready["version"].count(".") == 2
        assert (tmp_path / "sidecar.db").exists()
    finally:
        assert sc.terminate() == 0
    assert sc.proc.stdout.read() == b"", "nothing after the ready line may go to stdout"
    assert "launch-token-123456" not in sc.stderr()


def test_token_from_environment_else_random(tmp_path):
    sc = launch(tmp_path / "a", env={"SIDECAR_TOKEN": "env-token-abcdefgh"})
    assert sc.token == "env-token-abcdefgh"
    sc.terminate()
    env = {k: v for k, v in os.environ.items() if k != "SIDECAR_TOKEN"}
    sc1 = launch(tmp_path / "b", env=env | {"SIDECAR_TOKEN": ""})
    sc2 = launch(tmp_path / "c", env=env | {"SIDECAR_TOKEN": ""})
    try:
        assert len(sc1.token) >= 43 and sc1.token != sc2.token
    finally:
        sc1.terminate()
        sc2.terminate()


def test_db_flag_places_the_database(tmp_path):
    db = tmp_path / "elsewhere" / "chat.sqlite"
    sc = launch(tmp_path / "data", "--db", str(db))
    try:
        assert db.exists()
        mode = subprocess.run(
            ["sqlite3", str(db), "PRAGMA journal_mode"], capture_output=True, text=True
        )
        if mode.returncode == 0:
            assert mode.stdout.strip() == "wal"
    finally:
        sc.terminate()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_exit_zero(tmp_path, sig):
    sc = launch(tmp_path)
    sc.proc.send_signal(sig)
    assert sc.proc.wait(10) == 0
    assert "stopped" in sc.stderr()


def test_watch_stdin_exits_at_eof(tmp_path):
    # The exit follows EOF without a poll interval; how fast is the machine's business
    # (a generous deadline only as the last guard), that it is EOF that stopped it is ours.
    sc = launch(tmp_path, "--watch-stdin", stdin=subprocess.PIPE)
    sc.proc.stdin.close()
    assert sc.proc.wait(60) == 0
    assert "stopping: stdin closed" in sc.stderr()


def test_parent_pid_gone_exits(tmp_path):
    parent = subprocess.Popen(["sleep", "60"])
    sc = launch(tmp_path, "--parent-pid", str(parent.pid))
    time.sleep(0.3)
    assert sc.proc.poll() is None
    parent.kill()
    parent.wait()
    assert sc.proc.wait(60) == 0
    assert f"stopping: parent process {parent.pid} is gone" in sc.stderr()


def _fails(args: list[str], **kw) -> tuple[int, str]:
    proc = subprocess.run(SERVE + args, capture_output=True, text=True, timeout=30, **kw)
    assert proc.stdout == ""
    return proc.returncode, proc.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--port", "abc"], "--port"),
        (["--port", "70000"], "--port"),
        (["--log-level", "loud"], "--log-level"),
        (["--parent-pid", "-3"], "--parent-pid"),
        (["--bogus"], "unrecognized"),
        (["--host", "0.0.0.0"], "loopback"),
    ],
)
def test_bad_flags_are_one_line_errors(tmp_path, args, needle):
    code, err = _fails(["--data-dir", str(tmp_path)] + args)
    assert code != 0
    assert err.count("\n") == 1 and needle in err, err
    assert "Traceback" not in err


def test_unusable_data_dir_is_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    code, err = _fails(["--data-dir", str(blocker / "sub")])
    assert code == 1
    assert err.count("\n") == 1 and "data dir" in err, err


def test_corrupt_database_is_one_line_error(tmp_path):
    (tmp_path / "sidecar.db").write_bytes(b"this is not sqlite" * 100)
    code, err = _fails(["--data-dir", str(tmp_path)])
    assert code == 1
    assert err.count("\n") == 1 and "database" in err, err


def test_port_in_use_is_one_line_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, err = _fails(["--data-dir", str(tmp_path), "--port", str(port)])
    assert code == 1
    assert err.strip() == f"sidecar: error: port {port} is already in use"


def test_log_format_json_writes_json_lines(tmp_path):
    sc = launch(tmp_path, "--log-format", "json")
    sc.terminate()
    lines = [json.loads(line) for line in sc.stderr().splitlines() if line.strip()]
    assert lines and all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    assert any("ready on port" in line["msg"] for line in lines)


def test_parent_gone_before_the_ready_line_exits_cleanly(tmp_path):
    """The shell died while the sidecar started: stdout is a closed pipe when the ready
    line is written. That is a stop, not a traceback and not a process left behind."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sidecar", "serve", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    try:
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
    stderr = proc.stderr.read().decode()
    assert "Traceback" not in stderr
    assert "stdout was closed before the ready line" in stderr


def test_the_product_loads_no_development_library():
    """Everything the warm-up imports, and nothing a developer tool brings: httpx loads its
    own command line (click, rich, pygments) whenever click is importable, which cost every
    launch 4 MiB of idle memory while the import linter shared the product's venv."""
    code = (
        "import sys\n"
        "import sidecar.process, sidecar.engine, sidecar.providers, sidecar.rpc.session\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "extra = loaded & {'click', 'rich', 'pygments', 'importlinter', 'grimp', 'pytest',\n"
        "                  'hypothesis', 'openai', 'anthropic', 'PyInstaller'}\n"
        "assert not extra, sorted(extra)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
