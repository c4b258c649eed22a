"""The project's single entry point: tests, checks, benchmarks, docs and the demo."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite against the fake exchange on loopback."""
    session.install("-e", ".[testing]", *_group("test"))
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and this file."""
    session.install("-e", ".[testing]", *_group("typecheck"))
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks side by side with the peers; `-- --quick` for a smoke run."""
    session.install("-e", ".[testing]", *_group("bench"))
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """A long seeded fault storm: `nox -s soak -- --minutes N`."""
    session.install("-e", ".[testing]", *_group("test"))
    session.run("python", "tests/soak.py", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the Sphinx documentation; warnings are errors."""
    session.install("-e", ".[testing]", *_group("docs"))
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session
def demo(session: nox.Session) -> None:
    """Run `kraken-trio demo` against the embedded fake exchange."""
    session.install("-e", ".[testing]")
    session.run("kraken-trio", "demo", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Build the wheel into dist/ (kraken_trio is installed from a checkout or this wheel)."""
    session.run("python", "-m", "pip", "wheel", "--no-deps", "--wheel-dir", "dist", ".")
