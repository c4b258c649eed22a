"""Stream commands: ``kraken-trio ticker|book|trades|ohlc|instrument|level3|executions|balances``
and ``kraken-trio futures FEED``.

Each subscribes to one Kraken channel, against real Kraken by default or against the
embedded fake exchange with ``--fake``, and prints what arrives:

* stdout is a terminal: a live view redrawn in place;
* stdout is a pipe or a file (or ``--json``): one JSON object per message per line.
  Prices and quantities are JSON *strings* holding the exact decimal text
  (``"price":"64000.1"``), never floats; timestamps are ISO-8601 strings. A reconnect or a
  lost message shows up as a ``{"gap": {...}}`` line.

Stop with ``--count N`` (messages), ``--duration S`` (seconds) or Ctrl-C. The exit codes are in
:mod:`kraken_trio.cli._output`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import deque
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TextIO

import trio

from .._config import WsKey
from .._events import Gap
from .._localbook import BookEvent
from .._open import open_kraken
from .._proto import futures as f
from .._proto import spot as s
from .._proto.channels import FUTURES_PRIVATE_FEEDS, FUTURES_PUBLIC_FEEDS
from . import Command
from ._output import (
    EXIT_ARGS,
    CredentialsMissing,
    JsonLines,
    Painter,
    Screen,
    log_to,
    positive_float,
    positive_int,
    run_trio,
    to_record,
    url_type,
)

__all__ = ["COMMANDS", "StreamPlan", "stream"]

BOLD, DIM, GREEN, RED, RESET = "\x1b[1m", "\x1b[2m", "\x1b[32m", "\x1b[31m", "\x1b[0m"


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """What one stream command subscribes to.

    Attributes:
        title: Shown at the top of the live view.
        channel: Kraken's channel or futures feed name.
        params: Kraken's subscribe parameters (``symbol``, ``depth``, ``product_ids``, ...).
        ws_key: The connection it goes to.
        fake: The data comes from the embedded fake exchange (``--fake``), not Kraken.
    """

    title: str
    channel: str
    params: dict[str, Any]
    ws_key: WsKey
    fake: bool = False


# ------------------------------------------------------------------ live views


def _d(value: Decimal | None, width: int = 0) -> str:
    text = "-" if value is None else format(value, "f")  # exact digits, never 1E-9
    return text.rjust(width) if width else text


class View:
    """Keeps what a live view shows and renders it as lines."""

    def __init__(self, plan: StreamPlan) -> None:
        self.plan = plan
        self.messages = 0
        self.gaps = 0
        self.notes: deque[str] = deque(maxlen=3)
        self.last_at: float | None = None

    def feed(self, msg: Any) -> None:
        """Take one message (or Gap)."""
        self.messages += 1
        self.last_at = trio.current_time()
        if isinstance(msg, Gap):
            self.gaps += 1
            lost = f", {msg.lost} lost" if msg.lost else ""
            self.notes.append(f"gap: {msg.reason}{lost}")
            self.on_gap(msg)
        else:
            self.on_message(msg)

    def on_gap(self, gap: Gap) -> None:
        """A gap marker arrived (a fresh snapshot follows a reconnect)."""

    def on_message(self, msg: Any) -> None:
        """One typed message."""

    def body(self, rows: int) -> list[str]:
        """The view's own lines."""
        return []

    def age(self) -> str:
        """How long ago the last message arrived (the data's age), for the head line."""
        if self.last_at is None:
            return "no data yet"
        return f"last message {trio.current_time() - self.last_at:.1f}s ago"

    def render(self, rows: int) -> list[str]:
        """Every line of the frame."""
        head = (
            f"{_title(self.plan)}  {DIM}[{self.plan.ws_key}] "
            f"messages={self.messages} gaps={self.gaps} {self.age()}  Ctrl-C to stop{RESET}"
        )
        lines = [head, ""]
        lines += self.body(max(3, rows - 4 - len(self.notes)))
        lines += [f"{DIM}{n}{RESET}" for n in self.notes]
        return lines


def _title(plan: StreamPlan) -> str:
    """The view's title; data of the fake exchange is labelled so it is never taken for real."""
    label = f"  {RED}{BOLD}FAKE EXCHANGE DATA{RESET}" if plan.fake else ""
    return f"{BOLD}kraken-trio {plan.title}{RESET}{label}"


class TickerView(View):
    def __init__(self, plan: StreamPlan) -> None:
        super().__init__(plan)
        self.rows: dict[str, s.TickerData] = {}

    def on_message(self, msg: Any) -> None:
        if isinstance(msg, s.TickerMessage):
            for t in msg.data:
                self.rows[t.symbol] = t

    def body(self, rows: int) -> list[str]:
        out = [
            f"{'symbol':<9} {'bid':>11} {'bid qty':>11} {'ask':>11} {'ask qty':>11} "
            f"{'last':>11} {'chg %':>6} {'volume':>16}"
        ]
        for t in self.rows.values():
            colour = GREEN if t.change_pct >= 0 else RED
            out.append(
                f"{t.symbol:<9} {_d(t.bid, 11)} {_d(t.bid_qty, 11)} {_d(t.ask, 11)} "
                f"{_d(t.ask_qty, 11)} {_d(t.last, 11)} {colour}{_d(t.change_pct, 6)}{RESET} "
                f"{_d(t.volume, 16)}"
            )
        return out


def render_book(
    symbol: str,
    bids: list[tuple[Decimal, Decimal]],
    asks: list[tuple[Decimal, Decimal]],
    status: str,
) -> list[str]:
    """A two-column book: asks above (best at the bottom), bids below; spread in between."""
    out = [f"{BOLD}{symbol}{RESET}  {status}"]
    out.append(f"  {'price':>16} {'qty':>16}")
    for price, qty in reversed(asks):
        out.append(f"  {RED}{_d(price, 16)}{RESET} {_d(qty, 16)}")
    if bids and asks:
        spread = asks[0][0] - bids[0][0]
        mid = (asks[0][0] + bids[0][0]) / 2
        out.append(f"  {DIM}spread {spread}  mid {mid}{RESET}")
    else:
        out.append(f"  {DIM}(one side empty){RESET}")
    for price, qty in bids:
        out.append(f"  {GREEN}{_d(price, 16)}{RESET} {_d(qty, 16)}")
    return out


class VerifiedBooksView(View):
    """Books kept by ``k.book()``: every update checksum-verified (spot) or seq-checked
    (futures); a mismatch resyncs that symbol and is counted."""

    def __init__(self, plan: StreamPlan) -> None:
        super().__init__(plan)
        self.depth = int(plan.params.get("depth", 10))
        self.level = 3 if plan.channel == "level3" else 2
        self.books: Any = None

    def on_message(self, msg: Any) -> None:
        if isinstance(msg, BookEvent) and msg.kind == "resync":
            self.notes.append(f"{msg.symbol}: mismatch, resyncing that symbol")
        elif isinstance(msg, BookEvent) and msg.kind == "gap":
            self.notes.append(f"{msg.symbol}: reconnecting, a fresh snapshot follows")

    def body(self, rows: int) -> list[str]:
        out: list[str] = []
        books = list(self.books or [])
        per_book = max(1, (rows // max(1, len(books)) - 4) // 2)
        futures = self.plan.ws_key.is_futures
        for book in books:
            ok = f"{GREEN}OK{RESET}" if book.synced else f"{RED}resyncing{RESET}"
            if futures:
                status = f"seq {ok} {DIM}(gaps: {book.seq_gaps}, resyncs: {book.resyncs}){RESET}"
            else:
                status = (
                    f"checksum {ok} {DIM}({book.updates} updates verified, "
                    f"mismatches: {book.checksum_failures}, resyncs: {book.resyncs}){RESET}"
                )
            out += render_book(book.symbol, book.bids(per_book), book.asks(per_book), status)
        return out


class TradesView(View):
    def __init__(self, plan: StreamPlan) -> None:
        super().__init__(plan)
        self.trades: deque[s.TradeData] = deque(maxlen=200)

    def on_message(self, msg: Any) -> None:
        if isinstance(msg, s.TradeMessage):
            self.trades.extend(msg.data)

    def body(self, rows: int) -> list[str]:
        out = [f"{'time':<15} {'symbol':<10} {'side':<5} {'price':>14} {'qty':>14} {'type':<7}"]
        for t in list(self.trades)[-(rows - 1) :][::-1]:
            colour = GREEN if t.side == "buy" else RED
            out.append(
                f"{t.timestamp.strftime('%H:%M:%S.%f'):<15.15} {t.symbol:<10} "
                f"{colour}{t.side:<5}{RESET} {_d(t.price, 14)} {_d(t.qty, 14)} {t.ord_type:<7}"
            )
        return out


class OhlcView(View):
    def __init__(self, plan: StreamPlan) -> None:
        super().__init__(plan)
        self.candles: dict[tuple[str, str], s.Candle] = {}

    def on_message(self, msg: Any) -> None:
        if isinstance(msg, s.OhlcMessage):
            for c in msg.data:
                self.candles[(c.symbol, c.interval_begin.isoformat())] = c

    def body(self, rows: int) -> list[str]:
        out = [
            f"{'symbol':<9} {'begin':<11} {'open':>11} {'high':>11} {'low':>11} "
            f"{'close':>11} {'trades':>6} {'volume':>14}"
        ]
        latest = sorted(self.candles.values(), key=lambda c: c.interval_begin)[-(rows - 1) :]
        for c in reversed(latest):
            out.append(
                f"{c.symbol:<9} {c.interval_begin.strftime('%m-%d %H:%M'):<11} "
                f"{_d(c.open, 11)} {_d(c.high, 11)} {_d(c.low, 11)} {_d(c.close, 11)} "
                f"{c.trades:>6} {_d(c.volume, 14)}"
            )
        return out


class InstrumentView(View):
    def __init__(self, plan: StreamPlan) -> None:
        super().__init__(plan)
        self.pairs: dict[str, s.InstrumentPair] = {}
        self.assets = 0

    def on_message(self, msg: Any) -> None:
        if isinstance(msg, s.InstrumentMessage):
            if msg.type == "snapshot":
                self.pairs.clear()
                self.assets = len(msg.data.assets)
            for p in msg.data.pairs:
                self.pairs[p.symbol] = p

    def body(self, rows: int) -> list[str]:
        out = [
            f"{len(self.pairs)} pairs, {self.assets} assets",
            f"{'symbol':<12} {'status':<10} {'price step':>14} {'qty step':>14} "
            f"{'qty min':>14} {'cost min':>10}",
        ]
        for p in list(self.pairs.values())[: rows - 2]:
            out.append(
                f"{p.symbol:<12} {p.status:<10} {_d(p.price_increment, 14)} "
                f"{_d(p.qty_increment, 14)} {_d(p.qty_min, 14)} {_d(p.cost_min, 10)}"
            )
        return out


class ExecutionsView(View):
    def __init__(self, plan: StreamPlan) -> None:
        super().__init__(plan)
        self.rows: deque[s.Execution] = deque(maxlen=200)

    def on_message(self, msg: Any) -> None:
        if isinstance(msg, s.ExecutionsMessage):
            self.rows.extend(msg.data)

    def body(self, rows: int) -> list[str]:
        return [format_execution(None)] + [
            format_execution(e) for e in list(self.rows)[-(rows - 1) :][::-1]
        ]


def format_execution(e: s.Execution | None) -> str:
    """One compact executions row (fits 80 columns), or the header for ``None``."""
    if e is None:
        return f"{'exec_type':<11} {'order_id':<19} {'side':<4} {'type':<6} detail"
    if e.exec_type == "trade":
        detail = f"fill {e.last_qty} @ {e.last_price}"
    elif e.order_qty is not None:
        at = f" @ {e.limit_price}" if e.limit_price is not None else ""
        detail = f"{e.order_qty}{at}"
    else:
        detail = ""
    if e.order_status and e.order_status != e.exec_type:
        detail = f"{detail} -> {e.order_status}".strip()
    return (
        f"{e.exec_type or '-':<11} {e.order_id or '-':<19} {e.side or '':<4} "
        f"{e.order_type or '':<6} {detail}"
    )


class BalancesView(View):
    def __init__(self, plan: StreamPlan) -> None:
        super().__init__(plan)
        self.balances: dict[str, Decimal] = {}
        self.last: dict[str, Decimal] = {}

    def on_message(self, msg: Any) -> None:
        if isinstance(msg, s.BalancesSnapshot):
            self.balances = {a.asset: a.balance for a in msg.data}
        elif isinstance(msg, s.BalancesUpdate):
            for entry in msg.data:
                self.balances[entry.asset] = entry.balance
                self.last[entry.asset] = entry.amount

    def body(self, rows: int) -> list[str]:
        out = [f"{'asset':<8} {'balance':>22} {'last change':>18}"]
        for asset, balance in sorted(self.balances.items())[: rows - 1]:
            change = self.last.get(asset)
            out.append(f"{asset:<8} {_d(balance, 22)} {_d(change, 18) if change else '':>18}")
        return out


class FuturesTickerView(View):
    def __init__(self, plan: StreamPlan) -> None:
        super().__init__(plan)
        self.rows: dict[str, Any] = {}

    def on_message(self, msg: Any) -> None:
        if isinstance(msg, f.FuturesTicker | f.FuturesTickerLite):
            self.rows[msg.product_id] = msg

    def body(self, rows: int) -> list[str]:
        out = [f"{'product':<12} {'bid':>11} {'ask':>11} {'last':>11} {'mark':>14} {'volume':>14}"]
        for t in self.rows.values():
            last = getattr(t, "last", None)
            mark = getattr(t, "mark_price", None)
            out.append(
                f"{t.product_id:<12} {_d(t.bid, 11)} {_d(t.ask, 11)} {_d(last, 11)} "
                f"{_d(mark, 14)[:14]} {_d(t.volume, 14)}"
            )
        return out


class FuturesTradesView(View):
    def __init__(self, plan: StreamPlan) -> None:
        super().__init__(plan)
        self.trades: deque[Any] = deque(maxlen=200)

    def on_message(self, msg: Any) -> None:
        if isinstance(msg, f.FuturesTradeSnapshot):
            self.trades.extend(msg.trades)
        elif isinstance(msg, f.FuturesTrade):
            self.trades.append(msg)

    def body(self, rows: int) -> list[str]:
        out = [f"{'product':<14} {'side':<5} {'price':>14} {'qty':>14} {'seq':>10}"]
        for t in list(self.trades)[-(rows - 1) :][::-1]:
            colour = GREEN if t.side == "buy" else RED
            out.append(
                f"{t.product_id:<14} {colour}{t.side:<5}{RESET} {_d(t.price, 14)} "
                f"{_d(t.qty, 14)} {t.seq if t.seq is not None else '-':>10}"
            )
        return out


class RawView(View):
    """The latest messages as compact JSON (feeds without a dedicated view)."""

    def __init__(self, plan: StreamPlan) -> None:
        super().__init__(plan)
        self.lines: deque[str] = deque(maxlen=200)

    def on_message(self, msg: Any) -> None:
        import json

        self.lines.append(json.dumps(to_record(msg), separators=(",", ":")))

    def body(self, rows: int) -> list[str]:
        return list(self.lines)[-rows:]


# ------------------------------------------------------------------ running a stream


def _credentials_from_env(names: tuple[str, str], what: str) -> tuple[str, str]:
    key, secret = os.environ.get(names[0]), os.environ.get(names[1])
    if not key or not secret:
        raise CredentialsMissing(
            f"{what} needs credentials: set {names[0]} and {names[1]} "
            "(or use --fake to run against the embedded fake exchange)"
        )
    return key, secret


async def stream(
    args: argparse.Namespace,
    plan: StreamPlan,
    view: View,
    out: TextIO,
    scope: trio.CancelScope,
    *,
    json_mode: bool,
) -> None:
    """Subscribe as ``plan`` says and print until the count, duration or Ctrl-C."""
    options: dict[str, Any] = {"max_reconnects": args.max_reconnects}
    async with AsyncExitStack() as stack:
        if args.fake:
            from ..testing import open_fake_kraken

            fake = await stack.enter_async_context(open_fake_kraken(seed=args.seed))
            options.update(
                api_key=fake.api_key,
                api_secret=fake.api_secret,
                endpoints=fake.endpoints,
                rest_url=fake.rest_url,
            )
        else:
            if plan.ws_key.is_private:
                names = (
                    ("KRAKEN_FUTURES_API_KEY", "KRAKEN_FUTURES_API_SECRET")
                    if plan.ws_key.is_futures
                    else ("KRAKEN_API_KEY", "KRAKEN_API_SECRET")
                )
                options["api_key"], options["api_secret"] = _credentials_from_env(
                    names, f"{plan.channel} (a private channel)"
                )
            if args.endpoint:
                options["endpoints"] = {plan.ws_key: args.endpoint}
            if args.rest_url:
                options["rest_url"] = args.rest_url
        screen = None if json_mode else Screen(out)
        stack.enter_context(log_to(view.notes if screen is not None else None))
        k = await stack.enter_async_context(open_kraken(**options))
        jsonl = await stack.enter_async_context(JsonLines(out))
        painter: Painter | None = None
        if screen is not None:
            stack.callback(screen.close)
            painter = Painter(screen, lambda: view.render(screen.size()[1]))
            stack.callback(painter.draw_now)  # the last frame, after Ctrl-C too
            screen.draw([f"{_title(plan)}: connecting to {plan.ws_key} ..."])
            nursery = await stack.enter_async_context(trio.open_nursery())
            stack.callback(nursery.cancel_scope.cancel)
            nursery.start_soon(painter.run)
        count = 0
        with trio.move_on_after(args.duration if args.duration else float("inf")):
            source: Any
            if screen is not None and isinstance(view, VerifiedBooksView):
                # The live view keeps verified books (and resyncs a symbol on a mismatch);
                # JSON lines stay the raw messages, for tools downstream.
                symbols: list[str] = plan.params.get("symbol") or plan.params["product_ids"]
                source = await stack.enter_async_context(
                    k.book(
                        symbols,
                        depth=view.depth,
                        level=view.level,
                        ws_key=plan.ws_key if plan.ws_key.is_futures else None,
                        buffer_size=args.buffer_size,
                    )
                )
                view.books = source
            else:
                source = await stack.enter_async_context(
                    k.subscribe(
                        plan.channel,
                        ws_key=plan.ws_key,
                        on_overflow=args.on_overflow,
                        buffer_size=args.buffer_size,
                        **plan.params,
                    )
                )
            async for msg in source:
                if screen is None:
                    if not await jsonl.write(to_record(msg), give_up=lambda: source.closed):
                        # The subscription ended (an overrun) while stdout was stalled:
                        # skip what is buffered and raise the subscription's error.
                        async for _ in source:
                            pass
                        break
                else:
                    view.feed(msg)
                    assert painter is not None
                    painter.changed()
                if not isinstance(msg, Gap):
                    count += 1
                    if args.count and count >= args.count:
                        break


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fake",
        action="store_true",
        help="run against the embedded fake exchange (in-process, offline) instead of Kraken",
    )
    parser.add_argument("--count", type=positive_int, help="stop after N messages")
    parser.add_argument("--duration", type=positive_float, help="stop after S seconds")
    parser.add_argument(
        "--json",
        action="store_true",
        help="JSON lines even on a terminal (the default when stdout is not a terminal)",
    )
    parser.add_argument("--seed", type=int, default=0, help="market seed for --fake (default 0)")
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        type=url_type("ws://", "wss://"),
        help="override the WebSocket URL (ws:// or wss://)",
    )
    parser.add_argument(
        "--rest-url",
        metavar="URL",
        type=url_type("http://", "https://"),
        help="override the REST base URL used for tokens (http:// or https://)",
    )
    parser.add_argument(
        "--on-overflow",
        choices=("drop_oldest", "raise", "latest"),
        default="drop_oldest",
        help="when this program falls --buffer-size messages behind (a slow pipe): drop the "
        "oldest and print a gap line (default), stop with exit code 6, or keep the latest",
    )
    parser.add_argument(
        "--buffer-size",
        type=positive_int,
        default=10_000,
        metavar="N",
        help="messages buffered before --on-overflow applies (default 10000)",
    )
    parser.add_argument(
        "--max-reconnects",
        type=int,
        default=3,
        metavar="N",
        help="consecutive failed connection attempts before giving up (default 3)",
    )


def _symbols(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("symbol", nargs="+", metavar="SYMBOL", help="pair(s), e.g. BTC/USD")


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    plan: Callable[[argparse.Namespace], StreamPlan]
    view: Callable[[StreamPlan], View]


def _spot_plan(
    channel: str, title: str, **extra: str
) -> Callable[[argparse.Namespace], StreamPlan]:
    def plan(args: argparse.Namespace) -> StreamPlan:
        params: dict[str, Any] = {}
        symbols = getattr(args, "symbol", None)
        if symbols:
            params["symbol"] = symbols
        for param, attr in extra.items():
            value = getattr(args, attr)
            if value is not None:
                params[param] = value
        if channel in ("executions", "balances"):
            key = WsKey.SPOT_PRIVATE_V2
        elif channel == "level3":
            key = WsKey.SPOT_L3_V2
        else:
            key = WsKey.SPOT_PUBLIC_V2
        what = f"{title} {' '.join(symbols)}" if symbols else title
        return StreamPlan(title=what, channel=channel, params=params, ws_key=key)

    return plan


def _cfg_ticker(p: argparse.ArgumentParser) -> None:
    _symbols(p)
    p.add_argument(
        "--event-trigger",
        choices=("trades", "bbo"),
        help="update on every trade (Kraken's default) or on every best bid/offer change",
    )


def _cfg_book(p: argparse.ArgumentParser) -> None:
    _symbols(p)
    p.add_argument(
        "--depth",
        type=int,
        choices=(10, 25, 100, 500, 1000),
        default=10,
        help="levels per side (default 10)",
    )


def _cfg_ohlc(p: argparse.ArgumentParser) -> None:
    _symbols(p)
    p.add_argument(
        "--interval",
        type=int,
        choices=(1, 5, 15, 30, 60, 240, 1440, 10080, 21600),
        default=1,
        help="candle interval in minutes (default 1)",
    )


def _cfg_level3(p: argparse.ArgumentParser) -> None:
    _symbols(p)
    p.add_argument(
        "--depth", type=int, choices=(10, 100, 1000), default=10, help="levels (default 10)"
    )


def _cfg_executions(p: argparse.ArgumentParser) -> None:
    p.add_argument("--snap-trades", action="store_true", help="include the recent trades snapshot")
    p.add_argument(
        "--no-snap-orders",
        dest="snap_orders",
        action="store_false",
        default=None,
        help="skip the open orders snapshot",
    )


def _cfg_none(p: argparse.ArgumentParser) -> None:
    del p


_FUTURES_FEEDS = sorted(FUTURES_PUBLIC_FEEDS | FUTURES_PRIVATE_FEEDS)


def _cfg_futures(p: argparse.ArgumentParser) -> None:
    p.add_argument("feed", choices=_FUTURES_FEEDS, metavar="FEED", help=", ".join(_FUTURES_FEEDS))
    p.add_argument(
        "product_ids", nargs="*", metavar="PRODUCT", help="product id(s), e.g. PI_XBTUSD"
    )


def _futures_plan(args: argparse.Namespace) -> StreamPlan:
    feed: str = args.feed
    private = feed in FUTURES_PRIVATE_FEEDS
    params: dict[str, Any] = {}
    if args.product_ids:
        params["product_ids"] = args.product_ids
    key = WsKey.DERIVATIVES_PRIVATE_V1 if private else WsKey.DERIVATIVES_PUBLIC_V1
    title = f"futures {feed} {' '.join(args.product_ids)}".rstrip()
    return StreamPlan(title=title, channel=feed, params=params, ws_key=key)


def _futures_view(plan: StreamPlan) -> View:
    views: dict[str, Callable[[StreamPlan], View]] = {
        "ticker": FuturesTickerView,
        "ticker_lite": FuturesTickerView,
        "book": VerifiedBooksView,
        "trade": FuturesTradesView,
    }
    return views.get(plan.channel, RawView)(plan)


_SPOT_CREDENTIALS = "(needs KRAKEN_API_KEY and KRAKEN_API_SECRET, or --fake)"

_SPECS = [
    _Spec(
        "ticker",
        "stream the ticker of spot pair(s)",
        _cfg_ticker,
        _spot_plan("ticker", "ticker", event_trigger="event_trigger"),
        TickerView,
    ),
    _Spec(
        "book",
        "stream a spot order book (checksum-verified)",
        _cfg_book,
        _spot_plan("book", "book", depth="depth"),
        VerifiedBooksView,
    ),
    _Spec("trades", "stream spot trades", _symbols, _spot_plan("trade", "trades"), TradesView),
    _Spec(
        "ohlc",
        "stream spot candles",
        _cfg_ohlc,
        _spot_plan("ohlc", "ohlc", interval="interval"),
        OhlcView,
    ),
    _Spec(
        "instrument",
        "stream the spot instrument list (assets and pairs)",
        _cfg_none,
        _spot_plan("instrument", "instrument"),
        InstrumentView,
    ),
    _Spec(
        "level3",
        f"stream the order-by-order book {_SPOT_CREDENTIALS}",
        _cfg_level3,
        _spot_plan("level3", "level3", depth="depth"),
        VerifiedBooksView,
    ),
    _Spec(
        "executions",
        f"stream your spot orders and fills {_SPOT_CREDENTIALS}",
        _cfg_executions,
        _spot_plan(
            "executions", "executions", snap_trades="snap_trades_opt", snap_orders="snap_orders"
        ),
        ExecutionsView,
    ),
    _Spec(
        "balances",
        f"stream your spot balances {_SPOT_CREDENTIALS}",
        _cfg_none,
        _spot_plan("balances", "balances"),
        BalancesView,
    ),
    _Spec(
        "futures",
        "stream a Kraken Futures feed (private feeds need KRAKEN_FUTURES_API_KEY/SECRET)",
        _cfg_futures,
        _futures_plan,
        _futures_view,
    ),
]


def _make_command(spec: _Spec) -> Command:
    def configure(parser: argparse.ArgumentParser) -> None:
        spec.configure(parser)
        _add_common(parser)

    def run(args: argparse.Namespace) -> int:
        prog = f"kraken-trio {spec.name}"
        if args.max_reconnects < 0:
            print(f"{prog}: --max-reconnects must be >= 0", file=sys.stderr)
            return EXIT_ARGS
        if spec.name == "executions":
            args.snap_trades_opt = True if args.snap_trades else None
        if (
            spec.name == "futures"
            and args.feed in FUTURES_PUBLIC_FEEDS - {"heartbeat"}
            and not args.product_ids
        ):
            print(f"{prog}: futures feed {args.feed!r} needs a PRODUCT", file=sys.stderr)
            return EXIT_ARGS
        plan = replace(spec.plan(args), fake=bool(args.fake))
        view = spec.view(plan)
        out = sys.stdout
        json_mode = bool(args.json) or not out.isatty()

        async def main(scope: trio.CancelScope) -> None:
            await stream(args, plan, view, out, scope, json_mode=json_mode)

        return run_trio(prog, main)

    return Command(name=spec.name, help=spec.help, configure=configure, run=run)


COMMANDS: list[Command] = [_make_command(spec) for spec in _SPECS]
"""The stream subcommands (registered through ``COMMAND_MODULES``)."""
