"""What the stream commands and the demo share: output modes, exit codes, error mapping.

Exit codes (documented in ``docs/cli.md``; scripts may rely on them):

====  =====================================================================================
0     finished: ``--count`` / ``--duration`` reached, Ctrl-C, the stream ended, or the
      reader of a pipe went away (``| head``)
1     an unexpected error inside kraken_trio (a bug or an undecodable message)
2     bad arguments (argparse's own code, also used for values Kraken's rules refuse
      before anything is sent)
3     missing credentials for a private channel (``KRAKEN_API_KEY`` / ``KRAKEN_API_SECRET``)
4     network: the endpoint is unreachable, the connection was lost for good, or it timed out
5     Kraken refused: a subscription, the credentials, or a request (Kraken's text is shown)
6     the output fell too far behind the stream (``--on-overflow raise``)
====  =====================================================================================
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, MutableSequence
from decimal import Decimal
from typing import Any, TextIO

import msgspec
import trio

from .._errors import (
    ClosedError,
    ConnectionLostError,
    InvalidRequestError,
    KrakenAPIError,
    KrakenError,
    OverrunError,
    RequestTimeoutError,
)
from .._events import Gap

__all__ = [
    "EXIT_API",
    "EXIT_ARGS",
    "EXIT_CREDENTIALS",
    "EXIT_INTERNAL",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_OVERRUN",
    "JsonLines",
    "Painter",
    "Screen",
    "classify",
    "plain_decimals",
    "run_trio",
    "to_record",
]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_ARGS = 2
EXIT_CREDENTIALS = 3
EXIT_NETWORK = 4
EXIT_API = 5
EXIT_OVERRUN = 6


class CredentialsMissing(Exception):
    """A private channel was asked for without credentials in the environment."""


def to_record(msg: Any) -> dict[str, Any]:
    """A message as a JSON-ready dict: Decimals become strings, datetimes ISO-8601 text.

    Spot messages get their ``channel`` (a class attribute, not a field) in front; futures
    messages already carry ``feed``. A :class:`~kraken_trio.Gap` becomes ``{"gap": ...}``.
    """
    if isinstance(msg, Gap):
        return {"gap": msgspec.to_builtins(msg)}
    body = plain_decimals(msgspec.to_builtins(msg, builtin_types=(Decimal,)))
    if not isinstance(body, dict):
        return {"value": body}
    if "feed" in body and body.get("event") is None:
        body.pop("event", None)  # futures feed structs carry an always-empty ``event`` field
    channel = getattr(type(msg), "channel", None)
    if isinstance(channel, str) and "channel" not in body:
        return {"channel": channel, **body}
    return body


class JsonLines:
    """One JSON object per line, written by a task of its own so a slow reader never blocks.

    The stream's consumer hands lines over a small bounded channel; the writer task writes
    whatever has queued in one blocking call on a worker thread. When stdout stalls (a paused
    ``| less``), the channel fills, the consumer waits, and the subscription's ``on_overflow``
    policy decides, while the connection keeps answering heartbeats.

    Use as ``async with JsonLines(out) as lines: await lines.write(record)``; leaving the block
    flushes what is queued (bounded by ``drain_timeout``).
    """

    def __init__(self, out: TextIO, *, pending: int = 64, drain_timeout: float = 5.0) -> None:
        self._out = out
        self._send, self._recv = trio.open_memory_channel[str](pending)
        self._drain_timeout = drain_timeout
        self._done = trio.Event()

    async def write(
        self, record: dict[str, Any], give_up: Callable[[], bool] = lambda: False
    ) -> bool:
        """Queue one record, waiting while ``pending`` lines are already queued.

        Returns False, without queueing, if ``give_up()`` turns true while it waits (checked a
        few times a second, only while the output is stalled).
        """
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        while True:
            with trio.move_on_after(0.2):
                await self._send.send(line)
                return True
            if give_up():
                return False

    def _write_block(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()

    async def _run(self) -> None:
        try:
            async for line in self._recv:
                lines = [line]
                while True:
                    try:
                        lines.append(self._recv.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                text = "\n".join(lines) + "\n"
                await trio.to_thread.run_sync(self._write_block, text, abandon_on_cancel=True)
        finally:
            self._done.set()

    async def __aenter__(self) -> JsonLines:
        self._nursery_cm = trio.open_nursery()
        nursery = await self._nursery_cm.__aenter__()
        nursery.start_soon(self._run)
        self._nursery = nursery
        return self

    async def __aexit__(self, *exc: object) -> bool | None:
        self._send.close()
        if exc[0] is None:
            with trio.move_on_after(self._drain_timeout):
                await self._done.wait()
        self._nursery.cancel_scope.cancel()
        return await self._nursery_cm.__aexit__(*exc)  # type: ignore[arg-type]


class Screen:
    """A full-screen view redrawn in place with plain ANSI escapes.

    ``period`` (``1 / fps``) is the shortest time between two frames that its users keep.
    """

    def __init__(self, out: TextIO, fps: float = 10.0) -> None:
        self._out = out
        self.period = 1.0 / fps
        self._started = False

    @staticmethod
    def size() -> tuple[int, int]:
        """Terminal (columns, rows)."""
        cols, rows = shutil.get_terminal_size((100, 30))
        return cols, rows

    def draw(self, lines: list[str]) -> None:
        """Replace the screen with ``lines`` (cut to the terminal's size)."""
        cols, rows = self.size()
        if not self._started:
            self._out.write("\x1b[?25l")  # hide the cursor while redrawing
            self._started = True
        body = "\n".join(_cut(line, cols) for line in lines[: max(1, rows - 1)])
        self._out.write("\x1b[H\x1b[2J" + body + "\n")
        self._out.flush()

    def close(self) -> None:
        """Give the cursor back; the last frame stays visible."""
        if self._started:
            self._out.write("\x1b[?25h")
            self._out.flush()


class Painter:
    """Keeps a :class:`Screen` showing the latest state, at most once per its ``period``.

    The stream's consumer calls :meth:`changed` after each message; :meth:`run` (a task of
    its own) draws the next frame as soon as the period since the last one allows, so the
    last message is always drawn even when no other follows it, and redraws every
    ``refresh`` seconds anyway so that the data-age indicator keeps counting.
    """

    def __init__(
        self,
        screen: Screen,
        frame: Callable[[], list[str]],
        *,
        refresh: float = 1.0,
    ) -> None:
        self._screen = screen
        self._frame = frame
        self._refresh = refresh
        self._changed = trio.Event()

    def changed(self) -> None:
        """Something to show arrived."""
        self._changed.set()

    def draw_now(self) -> None:
        """Draw the current frame at once (the last frame, also after Ctrl-C)."""
        self._screen.draw(self._frame())

    async def run(self) -> None:
        """Draw until cancelled."""
        while True:
            with trio.move_on_after(self._refresh):
                await self._changed.wait()
            self._changed = trio.Event()
            self.draw_now()
            await trio.sleep(self._screen.period)


def plain_decimals(value: Any) -> Any:
    """``value`` with every :class:`~decimal.Decimal` turned into exact fixed-point text.

    ``str(Decimal("1E-9"))`` is ``"1E-9"``; this gives ``"0.000000001"``, the digits Kraken
    sent, never scientific notation. Lists and dicts are walked; other values pass through.
    """
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {k: plain_decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_decimals(v) for v in value]
    return value


def _cut(line: str, cols: int) -> str:
    # Lines carry ANSI colour codes; count only visible characters.
    visible = 0
    out: list[str] = []
    in_escape = False
    for ch in line:
        if ch == "\x1b":
            in_escape = True
        if in_escape:
            out.append(ch)
            if ch == "m":
                in_escape = False
            continue
        if visible >= cols:
            continue
        out.append(ch)
        visible += 1
    if visible >= cols and "\x1b[" in line:
        out.append("\x1b[0m")
    return "".join(out)


_EXCEPTION_EVENT = re.compile(r"\[\w+\] exception ")


def _is_failure(record: logging.LogRecord) -> bool:
    """Whether a library record reports an error that is also raised to its caller."""
    if record.levelno >= logging.ERROR:
        return True  # "connection failed for good: ..."
    text = record.getMessage()  # args may be folded in already (the redaction filter)
    if _EXCEPTION_EVENT.match(text):
        return True  # the lifecycle event of the same error: "[key] exception ..."
    return " refused: " in text  # a refused subscription


class _NotesHandler(logging.Handler):
    def __init__(self, notes: MutableSequence[str] | None) -> None:
        super().__init__(logging.WARNING)
        self.notes = notes
        self.held: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            failure = _is_failure(record)
        except Exception:  # a malformed log call must not break the stream
            return
        if self.notes is not None:
            self.notes.append(text)
        elif failure:
            self.held.append(text)  # shown only if no error line reports it at the end
        else:
            print(f"kraken-trio: {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def log_to(notes: MutableSequence[str] | None) -> Iterator[None]:
    """Show the library's warnings (reconnects, errors) while the block runs.

    With ``notes`` (a live view's list) they are appended there, so stderr does not tear the
    view; without, each is one ``kraken-trio: ...`` line on stderr. Records of a failure that
    ends the command are held back: the command's own error line reports it once (one auth
    failure is one line, not three); they are printed only if the block ends without one.
    """
    logger = logging.getLogger("kraken_trio")
    handler = _NotesHandler(notes)
    logger.addHandler(handler)
    try:
        yield
    except BaseException as exc:
        verdict = classify(exc)
        if verdict is None or verdict[0] == EXIT_OK:
            _print_held(handler.held)
        raise
    else:
        _print_held(handler.held)
    finally:
        logger.removeHandler(handler)


def _print_held(held: list[str]) -> None:
    for text in held:
        print(f"kraken-trio: {text}", file=sys.stderr, flush=True)


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    """Every exception inside ``exc``, exception groups unpacked."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def classify(exc: BaseException) -> tuple[int, str] | None:
    """The exit code and one-line message for an expected error, or None for a bug."""
    leaves = [e for e in _leaves(exc) if not isinstance(e, trio.Cancelled)]
    if not leaves:
        return EXIT_OK, ""
    if all(isinstance(e, KeyboardInterrupt) for e in leaves):
        return EXIT_OK, ""
    first = next((e for e in leaves if not isinstance(e, KeyboardInterrupt)), leaves[0])
    if isinstance(first, BrokenPipeError):
        return EXIT_OK, ""
    if isinstance(first, CredentialsMissing):
        return EXIT_CREDENTIALS, str(first)
    if isinstance(first, InvalidRequestError):
        return EXIT_ARGS, str(first)
    if isinstance(first, KrakenAPIError):
        return EXIT_API, f"Kraken refused: {first}"
    if isinstance(first, ConnectionLostError | RequestTimeoutError):
        return EXIT_NETWORK, f"network error: {first}"
    if isinstance(first, OSError):
        return EXIT_NETWORK, f"network error: {first.strerror or first}"
    if isinstance(first, OverrunError):
        return EXIT_OVERRUN, f"{first} (the output was too slow; see --on-overflow)"
    if isinstance(first, ClosedError):
        return EXIT_NETWORK, f"connection closed: {first}"
    if isinstance(first, KrakenError):
        return EXIT_INTERNAL, f"{type(first).__name__}: {first}"
    return None


async def _watch_sigint(scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        async for _ in signals:
            scope.cancel()
            return


def run_trio(
    prog: str, main: Callable[[trio.CancelScope], Awaitable[None]], err: TextIO | None = None
) -> int:
    """Run ``main`` under trio; Ctrl-C cancels it cleanly. Returns the exit status.

    ``main`` receives the cancel scope that Ctrl-C cancels (it may cancel it itself to stop).
    Expected errors print one line on stderr, never a traceback.
    """
    err = err if err is not None else sys.stderr

    async def wrapper() -> None:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                if _can_watch_signals():
                    nursery.start_soon(_watch_sigint, scope)
                await main(scope)
                nursery.cancel_scope.cancel()

    try:
        trio.run(wrapper)
    except BaseException as exc:
        verdict = classify(exc)
        if verdict is None:
            raise
        code, message = verdict
        if message:
            print(f"{prog}: {message}", file=err, flush=True)
        if code == EXIT_OK and any(isinstance(e, BrokenPipeError) for e in _leaves(exc)):
            _silence_stdout()
        return code
    return EXIT_OK


def _can_watch_signals() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _silence_stdout() -> None:
    # After EPIPE, Python would complain again when it flushes stdout at exit.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def url_type(*schemes: str) -> Callable[[str], str]:
    """argparse type: a URL with one of ``schemes`` and a host."""

    def check(text: str) -> str:
        rest = next((text[len(s) :] for s in schemes if text.lower().startswith(s)), None)
        if not rest or rest.startswith(("/", ":")):
            raise argparse.ArgumentTypeError(
                f"expected a URL starting with {' or '.join(schemes)}, got {text!r}"
            )
        return text

    return check
