"""Keeps live secrets out of every log record of the ``kraken_trio`` loggers.

The library registers each secret it holds the moment it holds it (:func:`register_secret`):
the API secret, each WebSocket token, each REST signature, each futures challenge and its
signature. :class:`RedactingFilter`, installed on the ``kraken_trio`` logger and its
children (:func:`install`), rewrites every record that is about to be emitted: the message
is formatted with each argument's ``str``/``repr`` scrubbed first (so a ``%.200r`` cut
cannot leave half a secret behind), the result is scrubbed again, and an attached
traceback is formatted and scrubbed. Each occurrence becomes its first four characters
plus ``***``.

The cost is paid only for records a logger actually emits, and nothing at all while no
secret is registered. The registry is bounded per kind of secret (API secrets, tokens,
challenges, signatures): the oldest of a kind are forgotten first, and no kind can push
another out.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from typing import Final, Literal

__all__ = [
    "RedactingFilter",
    "SecretKind",
    "forget_secret",
    "install",
    "register_secret",
    "scrub",
]

_MIN_LENGTH: Final = 8  # shorter values would scrub ordinary words
_KEEP: Final = 4

SecretKind = Literal["api_secret", "token", "challenge", "signature"]

_LIMITS: Final[dict[SecretKind, int]] = {
    "api_secret": 64,  # one per set of credentials made
    "token": 256,
    "challenge": 256,  # futures challenges and their signatures
    "signature": 256,  # REST API-Sign values: one per call, so they get their own bound
}
"""How many of each kind are kept, the most recent first. Each kind has its own bound, so a
burst of REST signatures can never push a live token or the API secret out."""


class _Registry:
    __slots__ = ("_dirty", "_kept", "_lock", "_pattern")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[SecretKind, OrderedDict[str, None]] = {k: OrderedDict() for k in _LIMITS}
        self._pattern: re.Pattern[str] | None = None
        self._dirty = False

    def add(self, value: str, kind: SecretKind) -> None:
        with self._lock:
            kept = self._kept[kind]
            if value in kept:
                kept.move_to_end(value)
                return
            kept[value] = None
            while len(kept) > _LIMITS[kind]:
                kept.popitem(last=False)
            self._dirty = True

    def discard(self, value: str) -> None:
        with self._lock:
            for kept in self._kept.values():
                kept.pop(value, None)
            self._dirty = True

    def pattern(self) -> re.Pattern[str] | None:
        """One compiled alternation of every secret (None when there is none), rebuilt only
        after a change."""
        if self._dirty:
            with self._lock:
                values = {value for kept in self._kept.values() for value in kept}
                # Longest first, so a secret that contains another is replaced whole.
                alternatives = sorted(values, key=len, reverse=True)
                self._pattern = (
                    re.compile("|".join(map(re.escape, alternatives))) if alternatives else None
                )
                self._dirty = False
        return self._pattern


_registry = _Registry()


def register_secret(value: str | None, kind: SecretKind = "token") -> None:
    """Scrub ``value`` from every later log record (values under 8 characters are ignored).

    Args:
        value: The secret.
        kind: What it is; each kind keeps its most recent entries (64 API secrets, 256 of
            each other kind), so nothing grows without bound.
    """
    if value and len(value) >= _MIN_LENGTH:
        _registry.add(value, kind)


def forget_secret(value: str) -> None:
    """Stop scrubbing ``value`` (nothing happens if it was not registered)."""
    _registry.discard(value)


def _mask(match: re.Match[str]) -> str:
    return match.group(0)[:_KEEP] + "***"


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by its first four characters + ``***``."""
    pattern = _registry.pattern()
    if pattern is None:
        return text
    return pattern.sub(_mask, text)


class _Scrubbed:
    """Stands in for a log argument: its ``str`` and ``repr`` are scrubbed before ``%``
    formatting applies a precision, so a cut never leaves part of a secret."""

    __slots__ = ("_value",)

    def __init__(self, value: object) -> None:
        self._value = value

    def __str__(self) -> str:
        return scrub(str(self._value))

    def __repr__(self) -> str:
        return scrub(repr(self._value))


_PLAIN: Final = (int, float, bool, type(None))


def _scrub_args(args: object) -> object:
    if isinstance(args, tuple):
        return tuple(a if isinstance(a, _PLAIN) else _Scrubbed(a) for a in args)
    if isinstance(args, dict):  # logging's single-mapping form: "%(name)s"
        return {k: v if isinstance(v, _PLAIN) else _Scrubbed(v) for k, v in args.items()}
    return args


class RedactingFilter(logging.Filter):
    """Rewrites each record so that no registered secret survives in it; never drops one."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if _registry.pattern() is None:
            return True
        original = record.args
        if original:
            record.args = _scrub_args(original)  # type: ignore[assignment]
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call: leave it to logging to report
            record.args = original
            return True
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


LOGGERS: Final = ("kraken_trio", "kraken_trio.testing")
"""Every logger the library logs through (a logger's filters do not see its children's
records, so each one gets its own filter)."""

_filter = RedactingFilter()


def install(names: tuple[str, ...] = LOGGERS) -> None:
    """Put the redacting filter on each named logger (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
