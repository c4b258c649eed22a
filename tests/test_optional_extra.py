"""The library proper runs without the ``testing`` extra (trio-websocket, h11, trustme).

A child interpreter hides trio-websocket and trustme; the client and the CLI still import,
and the fake exchange says which extra to install instead of failing somewhere deep. h11
cannot be hidden (wsproto, a dependency of the library, imports it), so no module of the
library outside ``kraken_trio.testing`` may import it itself.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import importlib.abc
import sys

HIDDEN = {"trio_websocket", "trustme"}


class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Hide())

import kraken_trio
from kraken_trio.cli import build_parser, main

build_parser()  # every subcommand module imports
assert not HIDDEN & set(sys.modules), sorted(HIDDEN & set(sys.modules))
try:
    import kraken_trio.testing
except ImportError as exc:
    print("testing:", exc)
print("exit:", main(["fake-exchange"]))
"""


def test_the_library_and_cli_import_without_the_testing_extra() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("testing: kraken_trio.testing needs the 'testing' extra")
    assert "pip install 'kraken-trio[testing]'" in lines[0]
    assert lines[1] == "exit: 1"
    assert "needs the 'testing' extra" in proc.stderr


def test_only_the_fake_imports_h11_or_trio_websocket() -> None:
    package = Path(__file__).resolve().parents[1] / "kraken_trio"
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "testing" not in path.parts
        and re.search(r"^\s*(import|from) (h11|trio_websocket)\b", path.read_text(), re.M)
    ]
    assert offenders == []
