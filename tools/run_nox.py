"""Run nox from a project-local virtual environment, creating it first if needed.

Usage: ``python3 tools/run_nox.py -s tests`` (any nox arguments). Standard library only, so it
runs on an operating system's own Python 3.11+, including one marked "externally managed"
(PEP 668, Debian 12 and others) where ``pip install`` outside a virtual environment is refused,
and one without ``ensurepip`` (Debian without the ``python3-venv`` package).

Steps: create ``.nox/_runner`` with :mod:`venv` (without pip); give it pip through ``ensurepip``
or, where that is missing, from the newest pip wheel on the package index (``PIP_INDEX_URL`` or
PyPI, checked against the index's sha256); install the ``nox`` dependency group of
pyproject.toml; then run ``python -m nox`` there with the given arguments. Later runs reuse the
environment and go straight to nox.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import urllib.request
import venv
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urljoin

MINIMUM = (3, 11)
ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / ".nox" / "_runner"
STAMP = "run_nox-requirements.txt"
PYPI = "https://pypi.org/simple/"
WHEEL = re.compile(r"^pip-(?P<version>\d+(?:\.\d+)*)-py3-none-any\.whl$")


def nox_requirements(pyproject: Path) -> list[str]:
    """The ``nox`` dependency group of ``pyproject`` (plain requirement strings)."""
    groups = tomllib.loads(pyproject.read_text(encoding="utf-8"))["dependency-groups"]
    return [str(item) for item in groups["nox"]]


def _python_ok(requires: str | None, version: tuple[int, int]) -> bool:
    """Whether ``version`` meets the ``>=X.Y`` / ``<X.Y`` parts of a Requires-Python string."""
    for part in (requires or "").split(","):
        spec = part.strip()
        match = re.fullmatch(r"(>=|<)\s*(\d+)\.(\d+)(?:\.\d+)?", spec)
        if match is None:
            continue  # other operators never exclude a supported Python in practice
        bound = (int(match[2]), int(match[3]))
        if (match[1] == ">=" and version < bound) or (match[1] == "<" and version >= bound):
            return False
    return True


def newest_pip_wheel(
    index_page: Mapping[str, object], page_url: str, version: tuple[int, int]
) -> tuple[str, str]:
    """The URL and sha256 of the newest final pip wheel for ``version`` on a PEP 691 page.

    Raises:
        LookupError: The page lists no usable wheel.
    """
    best: tuple[tuple[int, ...], str, str] | None = None
    files = index_page.get("files")
    for entry in files if isinstance(files, list) else []:
        match = WHEEL.match(str(entry.get("filename", "")))
        sha256 = (entry.get("hashes") or {}).get("sha256")
        if match is None or not sha256 or entry.get("yanked"):
            continue
        if not _python_ok(entry.get("requires-python"), version):
            continue
        key = tuple(int(n) for n in match["version"].split("."))
        if best is None or key > best[0]:
            best = (key, urljoin(page_url, str(entry["url"])), str(sha256))
    if best is None:
        raise LookupError(f"no pip wheel for Python {version[0]}.{version[1]} at {page_url}")
    return best[1], best[2]


def _fetch(url: str, accept: str) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=120) as response:
        body: bytes = response.read()
    return body


def _install_pip_from_index(python: Path, env: Mapping[str, str]) -> None:
    """Download the newest pip wheel, verify it, and let it install itself into ``python``."""
    page_url = urljoin(env.get("PIP_INDEX_URL", PYPI).rstrip("/") + "/", "pip/")
    page = json.loads(_fetch(page_url, "application/vnd.pypi.simple.v1+json"))
    url, sha256 = newest_pip_wheel(page, page_url, sys.version_info[:2])
    data = _fetch(url, "*/*")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise SystemExit(f"run_nox: the pip wheel from {url} does not match its sha256")
    with tempfile.TemporaryDirectory() as folder:
        wheel = Path(folder) / url.rsplit("/", 1)[-1].split("#", 1)[0]
        wheel.write_bytes(data)
        # A pip wheel runs from the zip itself: ``python pip.whl/pip install pip.whl``.
        _run([python, f"{wheel}/pip", "install", "--quiet", "--no-index", str(wheel)])


def _run(argv: Sequence[str | Path]) -> None:
    subprocess.run([str(a) for a in argv], check=True)


def _venv_python(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_runner(folder: Path, requirements: list[str], env: Mapping[str, str]) -> Path:
    """Create (or reuse) the virtual environment at ``folder`` with ``requirements`` installed."""
    python = _venv_python(folder)
    stamp = folder / STAMP
    wanted = "\n".join(requirements)
    if python.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return python
    if not python.exists():
        venv.EnvBuilder(with_pip=False, clear=True).create(folder)
    no_pip = subprocess.run([str(python), "-c", "import pip"], capture_output=True).returncode
    if no_pip:
        ensurepip = [str(python), "-m", "ensurepip", "--upgrade", "--default-pip"]
        if subprocess.run(ensurepip, capture_output=True).returncode != 0:
            print("run_nox: no ensurepip here; fetching pip from the package index", flush=True)
            _install_pip_from_index(python, env)
    _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements])
    stamp.write_text(wanted, encoding="utf-8")
    return python


def main(argv: Sequence[str]) -> int:
    """Make sure the runner exists, then run nox there with ``argv``; nox's exit status."""
    if sys.version_info < MINIMUM:
        print(f"run_nox: kraken_trio needs Python {MINIMUM[0]}.{MINIMUM[1]}+", file=sys.stderr)
        return 2
    try:
        python = ensure_runner(RUNNER, nox_requirements(ROOT / "pyproject.toml"), os.environ)
    except (OSError, subprocess.CalledProcessError, LookupError) as exc:
        print(f"run_nox: could not prepare {RUNNER}: {exc}", file=sys.stderr)
        return 1
    return subprocess.run([python, "-m", "nox", *argv], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
