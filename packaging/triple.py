"""The target triple Tauri's `externalBin` appends to a sidecar's file name.

Tauri looks for `binaries/sidecar-<triple>[.exe]`, where the triple is the
`host:` line of `rustc -Vv`. A build machine without Rust gets the same answer
from the platform, for the triples Tauri's desktop targets use.

    python packaging/triple.py     # prints e.g. x86_64-unknown-linux-gnu
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys

_ARCHES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "arm64": "aarch64",
    "aarch64": "aarch64",
    "i386": "i686",
    "i686": "i686",
    "x86": "i686",
    "armv7l": "armv7",
}


def from_rustc() -> str | None:
    """The host triple rustc reports, or None when Rust is not installed."""
    rustc = shutil.which("rustc")
    if rustc is None:
        return None
    try:
        out = subprocess.run([rustc, "-Vv"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        if line.startswith("host:"):
            return line.split(":", 1)[1].strip()
    return None


def from_platform(
    system: str | None = None, machine: str | None = None, libc: str | None = None
) -> str:
    """The triple rustc would report on this platform (the arguments are for tests)."""
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower()
    arch = _ARCHES.get(machine)
    if arch is None:
        raise RuntimeError(f"no known target triple for CPU {machine!r}; install Rust")
    if system == "darwin":
        return f"{arch}-apple-darwin"
    if system == "windows":
        return f"{arch}-pc-windows-msvc"
    if system == "linux":
        libc = libc if libc is not None else platform.libc_ver()[0]
        abi = "gnu" if libc == "glibc" or not libc else "musl"
        if arch == "armv7":
            abi += "eabihf"
        return f"{arch}-unknown-linux-{abi}"
    raise RuntimeError(f"no known target triple for {system!r}; install Rust")


def target_triple() -> str:
    return from_rustc() or from_platform()


def executable_name(triple: str) -> str:
    """The file name Tauri expects for `binaries/sidecar` on that target."""
    return f"sidecar-{triple}" + (".exe" if "windows" in triple else "")


if __name__ == "__main__":
    sys.stdout.write(target_triple() + "\n")
