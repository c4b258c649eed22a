"""What a wheel built from this checkout carries: licence, description and links that hold."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_licence_file_is_the_one_the_metadata_names() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_long_description_needs_no_checkout() -> None:
    description = (ROOT / PROJECT["readme"]).read_text()
    commands = re.findall(r"```console\n(.*?)```", description, flags=re.DOTALL)
    assert commands, "the description shows how to start"
    for line in "".join(commands).splitlines():
        assert line.startswith("kraken-trio "), line  # the installed command, nothing else


def test_project_links_are_given() -> None:
    assert PROJECT["urls"]
    assert all(url.startswith("https://") for url in PROJECT["urls"].values())


def test_readme_and_ci_use_the_same_single_line_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for line in ("python3 tools/run_nox.py -s demo", "python3 tools/run_nox.py -s tests"):
        assert line in readme
    assert "\npython3 tools/run_nox.py -s tests\n" in ci
    assert "pip install" not in ci  # an externally managed Python refuses it


def test_the_quickstart_does_not_promise_the_package_index() -> None:
    quickstart = (ROOT / "docs" / "quickstart.md").read_text()
    assert "pip install kraken-trio" not in quickstart
    assert "not published on the package index" in quickstart


def test_the_going_live_page_is_linked_and_the_small_inaccuracies_stay_fixed() -> None:
    docs = ROOT / "docs"
    assert "\ngoing-live\n" in (docs / "index.md").read_text()
    page = (docs / "going-live.md").read_text()
    for topic in ("Access WebSockets API", "validate=True", "demo-futures.kraken.com"):
        assert topic in page, topic
    assert "EOrder:Rate limit exceeded" in page
    cli = (docs / "cli.md").read_text()
    assert "milliseconds since the Unix" in cli  # futures times are epoch ms, not ISO-8601
    quickstart = (docs / "quickstart.md").read_text()
    assert "[examples/public_streams.py](howto/public-streams.md)" not in quickstart
