"""tools/run_nox.py: the README's one-line commands on an OS Python without pip or ensurepip."""

from __future__ import annotations

import ensurepip
import hashlib
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import run_nox

ROOT = Path(__file__).resolve().parents[1]


def _page(*files: dict[str, object]) -> dict[str, object]:
    return {"meta": {"api-version": "1.1"}, "name": "pip", "files": list(files)}


def _file(name: str, **extra: object) -> dict[str, object]:
    return {"filename": name, "url": f"../../files/{name}", "hashes": {"sha256": "ab" * 32}} | extra


def test_the_newest_final_wheel_for_this_python_is_chosen() -> None:
    page = _page(
        _file("pip-9.0.0-py3-none-any.whl"),
        _file("pip-24.10-py3-none-any.whl"),
        _file("pip-24.9-py3-none-any.whl"),
        _file("pip-25.0b1-py3-none-any.whl"),  # a pre-release
        _file("pip-25.0.tar.gz"),  # not a wheel
        _file("pip-26.0-py3-none-any.whl", yanked="broken"),
        _file("pip-27.0-py3-none-any.whl", **{"requires-python": ">=3.12"}),
        _file("pip-28.0-py3-none-any.whl", hashes={}),  # nothing to verify it with
    )
    url, sha256 = run_nox.newest_pip_wheel(page, "https://index.test/simple/pip/", (3, 11))
    assert url == "https://index.test/files/pip-24.10-py3-none-any.whl"
    assert sha256 == "ab" * 32


def test_requires_python_bounds() -> None:
    assert run_nox._python_ok(None, (3, 11))
    assert run_nox._python_ok(">=3.9, !=3.10.0", (3, 11))
    assert not run_nox._python_ok(">=3.12", (3, 11))
    assert not run_nox._python_ok(">=3.8,<3.11", (3, 11))


def test_a_page_without_a_usable_wheel_names_the_page() -> None:
    with pytest.raises(LookupError, match=r"no pip wheel for Python 3\.11 at https://i\.test/p/"):
        run_nox.newest_pip_wheel(_page(_file("pip-1.0.zip")), "https://i.test/p/", (3, 11))


def test_the_runner_installs_the_nox_group_of_pyproject() -> None:
    assert run_nox.nox_requirements(ROOT / "pyproject.toml") == ["nox>=2025.2.9"]


@pytest.fixture
def pip_index(tmp_path: Path) -> Iterator[str]:
    """A PEP 691 index on loopback serving the pip wheel that this Python bundles."""
    wheels = sorted((Path(ensurepip.__file__).parent / "_bundled").glob("pip-*.whl"))
    if not wheels:
        pytest.skip("this Python bundles no pip wheel to serve")
    wheel = wheels[-1]
    page = _page(
        {
            "filename": wheel.name,
            "url": f"/files/{wheel.name}",
            "hashes": {"sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()},
        }
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(page).encode() if self.path == "/simple/pip/" else wheel.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.slow
def test_without_ensurepip_pip_comes_from_the_index(
    tmp_path: Path,
    pip_index: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Debian without python3-venv: `python -m ensurepip` fails inside the new environment.
    shadow = tmp_path / "shadow" / "ensurepip"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise SystemExit('ensurepip is not available')\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow.parent))
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    folder = tmp_path / "runner"
    wheel = sorted((Path(ensurepip.__file__).parent / "_bundled").glob("pip-*.whl"))[-1]
    # The requirement is the wheel itself, so that the test needs nothing from the network.
    python = run_nox.ensure_runner(folder, [str(wheel)], {"PIP_INDEX_URL": pip_index})
    assert "fetching pip from the package index" in capsys.readouterr().out
    version = subprocess.run(
        [python, "-m", "pip", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert str(folder) in version
    # A second run finds everything in place and reuses it.
    assert run_nox.ensure_runner(folder, [str(wheel)], {"PIP_INDEX_URL": "http://unused/"}) == (
        python
    )
    assert capsys.readouterr().out == ""


def test_an_old_python_is_told_what_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "version_info", (3, 10, 12, "final", 0))
    assert run_nox.main(["--version"]) == 2
