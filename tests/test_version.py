"""The package and protocol versions are set once (sidecar/__init__.py) and agree everywhere
they show: pyproject.toml, schema/, the changelog, the docs, and a running sidecar."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import sidecar
from sidecar.dev import schema as export
from tests.contract import SCHEMA_DIR
from tests.harness import Client, launch

ROOT = Path(__file__).resolve().parents[1]
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


def test_versions_are_well_formed():
    assert SEMVER.match(sidecar.__version__), sidecar.__version__
    assert isinstance(sidecar.PROTOCOL_VERSION, int) and sidecar.PROTOCOL_VERSION >= 1


def test_pyproject_reads_the_package_version_from_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "sidecar.__version__"}


def test_every_schema_file_carries_the_versions():
    openrpc = json.loads((SCHEMA_DIR / "openrpc.json").read_text())
    assert openrpc["info"]["version"] == sidecar.__version__
    assert openrpc["info"]["x-protocolVersion"] == sidecar.PROTOCOL_VERSION
    prefix = f"https://chat-sidecar.local/schema/v{sidecar.PROTOCOL_VERSION}/"
    assert export.BASE_ID == prefix
    files = [p for p in SCHEMA_DIR.rglob("*.json") if p.name != "openrpc.json"]
    assert len(files) > 50
    for path in files:
        rel = path.relative_to(SCHEMA_DIR).as_posix()
        assert json.loads(path.read_text())["$id"] == prefix + rel


def test_the_changelog_starts_with_this_version_and_goes_back_to_0_1_0():
    headings = re.findall(
        r"^## (\d+\.\d+\.\d+)\b", (ROOT / "docs" / "changelog.md").read_text(), re.M
    )
    assert headings[0] == sidecar.__version__
    assert headings[-1] == "0.1.0"
    as_tuples = [tuple(map(int, h.split("."))) for h in headings]
    assert as_tuples == sorted(as_tuples, reverse=True) and len(set(as_tuples)) == len(headings)


def test_ready_line_examples_in_the_docs_show_these_versions():
    for doc in ("README.md", "docs/protocol.md"):
        lines = [
            json.loads(line)
            for line in (ROOT / doc).read_text().splitlines()
            if line.startswith('{"type":"ready"')
        ]
        assert lines, doc
        for ready in lines:
            assert ready["version"] == sidecar.__version__, doc
            assert ready["protocolVersion"] == sidecar.PROTOCOL_VERSION, doc


async def test_a_running_sidecar_reports_the_same_versions(tmp_path):
    sc = launch(tmp_path)
    try:
        assert sc.ready["version"] == sidecar.__version__
        assert sc.ready["protocolVersion"] == sidecar.PROTOCOL_VERSION
        client = await Client.open(sc, initialize=False, subscribe=False)
        result = await client.request(
            "initialize",
            {"protocolVersion": sidecar.PROTOCOL_VERSION, "clientInfo": {"name": "tests"}},
        )
        assert result["serverInfo"] == {"name": "chat-sidecar", "version": sidecar.__version__}
        assert result["protocolVersion"] == sidecar.PROTOCOL_VERSION
        await client.close()
    finally:
        sc.terminate()


def test_the_typescript_package_travels_with_the_sidecar():
    """The client package is released with the sidecar, and its generated types name the
    versions of the schema they came from (`npm run gen:check` keeps them regenerated)."""
    ts = ROOT / "clients" / "ts"
    assert json.loads((ts / "package.json").read_text())["version"] == sidecar.__version__
    generated = (ts / "src" / "generated" / "protocol.ts").read_text()
    assert f"PROTOCOL_VERSION = {sidecar.PROTOCOL_VERSION} as const" in generated
    assert f'SCHEMA_VERSION = "{sidecar.__version__}" as const' in generated
