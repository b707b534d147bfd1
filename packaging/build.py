"""`make dist`: build the sidecar as a one-folder executable for Tauri, with checksums.

    python packaging/build.py [--out dist] [--force]   # build unless up to date
    python packaging/build.py --out dist --check       # exit 0 only if up to date

Writes into OUT:
- `sidecar-<triple>/`: the executable `sidecar-<triple>[.exe]` plus `_internal/`
  (Python and the libraries; the executable finds it beside itself);
- `sidecar-<triple>.sha256`: SHA-256 of every file of that folder, in
  `sha256sum -c` format, paths relative to OUT;
- `sidecar-<triple>.build.json`: version, triple and the fingerprint of the
  sources it was built from, so an unchanged tree is not built twice.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from triple import executable_name, target_triple

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "sidecar.spec"
LEFT_OUT = ("sidecar/dev/",)  # the development tools, as in the spec


def _sources() -> list[Path]:
    files = [
        p
        for p in sorted((ROOT / "sidecar").rglob("*"))
        if p.suffix in (".py", ".json")
        and "__pycache__" not in p.parts
        and not p.relative_to(ROOT).as_posix().startswith(LEFT_OUT)
    ]
    files += sorted((ROOT / "packaging").glob("*.py")) + [SPEC]
    return files + [ROOT / "requirements.lock", ROOT / "pyproject.toml"]


def fingerprint() -> str:
    """What the build depends on: the sources it bundles, the lock file, Python, PyInstaller."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    digest.update(f"{sys.version}\0{version('pyinstaller')}\0".encode())
    for path in _sources():
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def checksums(out: Path, folder: Path) -> str:
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        lines.append(f"{_sha256(path)}  {path.relative_to(out).as_posix()}\n")
    return "".join(lines)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def up_to_date(out: Path, name: str) -> bool:
    """The folder was built from these sources and no file of it changed since."""
    info, sums, folder = out / f"{name}.build.json", out / f"{name}.sha256", out / name
    if not (info.is_file() and sums.is_file() and folder.is_dir()):
        return False
    if json.loads(info.read_text()).get("sources") != fingerprint():
        return False
    return sums.read_text() == checksums(out, folder)


def build(out: Path, force: bool = False) -> Path:
    """Build (unless up to date) and return the executable's path."""
    from sidecar import PROTOCOL_VERSION, __version__

    triple = target_triple()
    name = f"sidecar-{triple}"
    out.mkdir(parents=True, exist_ok=True)
    executable = out / name / executable_name(triple)
    if not force and up_to_date(out, name):
        print(f"{out / name} is up to date", file=sys.stderr)
        return executable
    sources = fingerprint()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sidecar-dist-", dir=out) as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "PyInstaller",
                "--noconfirm",
                "--log-level=WARN",
                f"--distpath={tmp}/dist",
                f"--workpath={tmp}/work",
                str(SPEC),
            ],
            check=True,
            cwd=ROOT,
        )
        shutil.rmtree(out / name, ignore_errors=True)
        shutil.move(f"{tmp}/dist/{name}", out / name)
    (out / f"{name}.sha256").write_text(checksums(out, out / name))
    info = {
        "name": name,
        "triple": triple,
        "executable": f"{name}/{executable.name}",
        "version": __version__,
        "protocolVersion": PROTOCOL_VERSION,
        "sources": sources,
    }
    (out / f"{name}.build.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"built {out / name} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return executable


def main() -> int:
    parser = argparse.ArgumentParser(prog="packaging/build.py", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--force", action="store_true", help="build even if up to date")
    parser.add_argument("--check", action="store_true", help="exit 1 unless OUT is up to date")
    args = parser.parse_args()
    if args.check:
        name = f"sidecar-{target_triple()}"
        ok = up_to_date(args.out, name)
        print(f"{args.out / name} is {'up to date' if ok else 'missing or stale'}")
        return 0 if ok else 1
    print(build(args.out.resolve(), args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
