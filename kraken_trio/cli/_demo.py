"""``kraken-trio demo``: the library at work against the embedded fake exchange, offline.

Starts :func:`kraken_trio.testing.open_fake_kraken` in this process, connects a client to it
and shows, side by side:

* a verified local order book (``k.book``): levels, spread, mid, checksum status, resyncs;
* the latest public trades;
* a scripted trading session over the WebSocket API: arm the dead man's switch, place a
  limit order, amend it, cancel it, batch-add three orders, take liquidity with a market
  order, cancel all, disarm the switch, each with its round-trip time;
* the executions those requests produce, and the balances they move.

On a terminal the view is redrawn in place; piped, it prints plain timestamped lines. It ends
after ``--duration`` seconds (default 15) or on Ctrl-C, cleanly, with exit code 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, TextIO

import msgspec
import trio

from .._client import KrakenClient
from .._config import WsKey
from .._errors import InvalidRequestError, KrakenError
from .._open import open_kraken
from .._proto import spot as s
from . import Command
from ._output import EXIT_ARGS, EXIT_OK, Screen, classify, log_to, positive_float, run_trio
from ._streams import BOLD, DIM, GREEN, RED, RESET, format_execution

__all__ = ["COMMAND", "Demo"]


def _plain(text: str) -> str:
    for code in (BOLD, DIM, GREEN, RED, RESET):
        text = text.replace(code, "")
    return text


class Demo:
    """The demo's state, its tasks and its two renderings (live screen or plain lines)."""

    def __init__(self, pair: str, duration: float, out: TextIO, *, live: bool) -> None:
        self.pair = pair
        self.duration = duration
        self.out = out
        self.live = live
        self.screen = Screen(out, fps=10) if live else None
        self.t0 = time.monotonic()
        self.endpoint = ""
        self.book: Any = None
        self.book_status = "waiting for snapshot"
        self.book_synced = trio.Event()
        self.trades: deque[s.TradeData] = deque(maxlen=40)
        self.trades_seen = 0
        self.trades_since_line = 0
        self.session: deque[str] = deque(maxlen=14)
        self.executions: deque[s.Execution] = deque(maxlen=14)
        self.executions_seen = 0
        self.orders: dict[str, tuple[str, str | None]] = {}
        self.balances: dict[str, Decimal] = {}
        self.notes: deque[str] = deque(maxlen=3)
        self.switch: Any = None
        self.steps_done = 0
        self.errors = 0

    # ------------------------------------------------------------------ output

    def elapsed(self) -> float:
        """Seconds since the demo started."""
        return time.monotonic() - self.t0

    def line(self, text: str) -> None:
        """In plain mode, print one timestamped line now."""
        if not self.live:
            self.out.write(f"[{self.elapsed():6.2f}s] {_plain(text)}\n")
            self.out.flush()

    def say(self, text: str) -> None:
        """A line of the trading session (kept for the live view, printed in plain mode)."""
        self.session.append(f"{DIM}+{self.elapsed():5.2f}s{RESET} {text}")
        self.line(text)

    def book_line(self) -> str:
        """One line: best bid/ask, spread and checksum status."""
        book = self.book
        if book is None or book.best_bid is None or book.best_ask is None:
            return f"book {self.pair}: {self.book_status}"
        (bid, bid_qty), (ask, ask_qty) = book.best_bid, book.best_ask
        return (
            f"book {self.pair}  bid {GREEN}{bid}{RESET} x {bid_qty}  ask {RED}{ask}{RESET} x "
            f"{ask_qty}  spread {book.spread}  checksum {self.checksum_text()}  "
            f"updates={book.updates} resyncs={book.resyncs}"
        )

    def checksum_text(self, value: bool = True) -> str:
        """OK (verified), with the CRC32 if ``value``, or the current problem."""
        book = self.book
        if book is not None and book.synced:
            crc = f" {DIM}({book.last_checksum}){RESET}" if value else ""
            return f"{GREEN}OK{RESET}{crc}"
        return f"{RED}{self.book_status}{RESET}"

    def frame(self, rows: int) -> list[str]:
        """Every line of the live view, fitted to ``rows`` (80 columns are enough)."""
        levels = 3 if rows < 32 else 5 if rows < 44 else 10
        head = [
            f"{BOLD}kraken-trio demo{RESET}  fake Kraken at {self.endpoint}  "
            f"{DIM}{self.elapsed():4.1f}/{self.duration:g}s  Ctrl-C quits{RESET}",
            "",
        ]
        book_lines = [f"{BOLD}{self.pair} book{RESET}  checksum {self.checksum_text(False)}"]
        book = self.book
        if book is not None:
            book_lines.append(
                f"{DIM}{book.updates} updates verified, {book.resyncs} resyncs{RESET}"
            )
            for price, qty in reversed(book.asks(levels)):
                book_lines.append(f"{'ask':<4}{RED}{price!s:>12}{RESET} {qty!s:>14}")
            if book.spread is not None:
                book_lines.append(f"{DIM}{'':4}spread {book.spread}  mid {book.mid}{RESET}")
            for price, qty in book.bids(levels):
                book_lines.append(f"{'bid':<4}{GREEN}{price!s:>12}{RESET} {qty!s:>14}")
        trade_lines = [f"{BOLD}latest trades{RESET}  {DIM}({self.trades_seen} seen){RESET}", ""]
        for tr in list(self.trades)[::-1][: len(book_lines) - 2]:
            colour = GREEN if tr.side == "buy" else RED
            trade_lines.append(
                f"{tr.timestamp.strftime('%H:%M:%S.%f')[:12]} {colour}{tr.side:<4}{RESET} "
                f"{tr.price!s:>11} {tr.qty!s:>12}"
            )
        lines = head + _columns(book_lines, trade_lines, 34)
        switch = self.switch
        dms = "off"
        if switch is not None:
            dms = (
                f"armed {switch.timeout}s, {switch.refreshes} refreshes" if switch.armed else "off"
            )
        base, _, quote = self.pair.partition("/")
        wallet = "  ".join(f"{a} {self.balances[a]}" for a in (base, quote) if a in self.balances)
        lines += [
            "",
            f"{BOLD}trading over the WebSocket API{RESET}  {DIM}dead man's switch: {dms}{RESET}",
        ]
        fixed = len(lines) + 2 + len(self.notes)  # + executions header + wallet line
        room = max(4, rows - 1 - fixed)
        session_room = max(2, (room + 1) // 2)
        lines += list(self.session)[-session_room:]
        lines += [
            f"{BOLD}executions{RESET}  {DIM}({self.executions_seen} seen)  balances: "
            f"{wallet}{RESET}",
        ]
        exec_room = max(2, rows - 1 - len(lines) - len(self.notes))
        lines += [format_execution(e) for e in list(self.executions)[-exec_room:]]
        lines += [f"{DIM}{n}{RESET}" for n in self.notes]
        return lines

    # ------------------------------------------------------------------ tasks

    async def watch_book(self, k: KrakenClient) -> None:
        """Keep the verified book and note its state changes."""
        async with k.book(self.pair, depth=10) as book:
            self.book = book
            async for event in book:
                if event.kind == "snapshot":
                    self.book_status = "OK"
                    if not self.book_synced.is_set():
                        self.line(f"book {self.pair}: snapshot received, checksum verified")
                    self.book_synced.set()
                elif event.kind == "resync":
                    self.book_status = "resyncing"
                    self.notes.append(f"book {self.pair}: checksum mismatch, resyncing")
                    self.line(f"book {self.pair}: checksum mismatch, resyncing that symbol")
                elif event.kind == "gap":
                    self.book_status = "reconnecting"

    async def watch_trades(self, k: KrakenClient) -> None:
        """The latest public trades."""
        async with k.subscribe("trade", symbol=[self.pair], on_overflow="drop_oldest") as sub:
            async for msg in sub:
                if isinstance(msg, s.TradeMessage):
                    self.trades.extend(msg.data)
                    self.trades_seen += len(msg.data)
                    self.trades_since_line += len(msg.data)

    async def watch_executions(self, k: KrakenClient) -> None:
        """Our own orders and fills."""
        async with k.subscribe("executions", snap_orders=True) as sub:
            async for msg in sub:
                if not isinstance(msg, s.ExecutionsMessage):
                    continue
                for e in msg.data:
                    # Kraken repeats side and type only on an order's first event; fill them
                    # in from memory so each row reads on its own.
                    if e.order_id and e.side:
                        self.orders[e.order_id] = (e.side, e.order_type)
                    elif e.order_id in self.orders:
                        side, order_type = self.orders[e.order_id]
                        e = msgspec.structs.replace(e, side=side, order_type=order_type)
                    self.executions.append(e)
                    self.executions_seen += 1
                    fill = f" {e.last_qty} @ {e.last_price}" if e.exec_type == "trade" else ""
                    self.line(
                        f"  exec {e.exec_type:<12} {e.order_status or '':<16} {e.order_id}"
                        f" {e.side or ''} {e.order_type or ''}{fill}"
                    )

    async def watch_balances(self, k: KrakenClient) -> None:
        """Balances, moved by our fills."""
        async with k.subscribe("balances") as sub:
            async for msg in sub:
                if isinstance(msg, s.BalancesSnapshot):
                    self.balances = {a.asset: a.balance for a in msg.data}
                elif isinstance(msg, s.BalancesUpdate):
                    for entry in msg.data:
                        self.balances[entry.asset] = entry.balance

    async def render(self) -> None:
        """Redraw the live view, or print a summary line each second when piped."""
        while True:
            if self.screen is not None:
                self.screen.draw(self.frame(Screen.size()[1]))
                await trio.sleep(0.1)
            else:
                await trio.sleep(1.0)
                self.line(self.book_line())
                if self.trades:
                    t = self.trades[-1]
                    self.line(
                        f"trades: {self.trades_since_line} in the last second; last "
                        f"{t.side} {t.qty} @ {t.price}"
                    )
                    self.trades_since_line = 0

    async def step(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run one request of the session and report its result and round trip."""
        self.say(f"> {what}")
        started = time.perf_counter()
        try:
            result = await call()
        except KrakenError as exc:
            self.errors += 1
            self.say(f"< {RED}refused{RESET}: {exc}")
            return None
        ms = (time.perf_counter() - started) * 1000
        self.steps_done += 1
        self.say(f"< {_describe(result)}  {DIM}({ms:.1f} ms){RESET}")
        return result

    async def trading_session(self, k: KrakenClient, pace: float) -> None:
        """The scripted session: switch, place, amend, cancel, batch, market, cancel all."""
        await self.book_synced.wait()
        pairs = await k.instrument_pairs()
        spec = pairs[self.pair]
        tick, qty_step = spec.price_increment, spec.qty_increment
        book = self.book
        assert book is not None
        assert book.best_bid is not None
        ref = book.mid or book.best_bid[0]
        qty = max(spec.qty_min * 10, (spec.cost_min * 20) / ref).quantize(
            qty_step, rounding=ROUND_CEILING
        )

        def below(pct: str) -> Decimal:
            return _to_tick(ref * (1 - Decimal(pct)), tick, ROUND_FLOOR)

        def above(pct: str) -> Decimal:
            return _to_tick(ref * (1 + Decimal(pct)), tick, ROUND_CEILING)

        await trio.sleep(pace)
        self.say(f"{BOLD}dead man's switch{RESET}: arm for 10 s, refreshed every {pace * 3:.1f} s")
        async with k.dead_mans_switch(timeout=10, refresh_every=max(0.2, pace * 3)) as switch:
            self.switch = switch
            self.say(f"< armed; Kraken would cancel everything at {switch.trigger_time:%H:%M:%S}")
            await trio.sleep(pace)
            price = below("0.003")
            placed = await self.step(
                f"add_order limit buy {qty} {self.pair} @ {price}",
                lambda: k.add_order(
                    order_type="limit",
                    side="buy",
                    symbol=self.pair,
                    order_qty=qty,
                    limit_price=price,
                ),
            )
            await trio.sleep(pace)
            if placed is not None:
                new_price = below("0.002")
                await self.step(
                    f"amend_order {placed.order_id}: qty {qty * 2}, price {new_price}",
                    lambda: k.amend_order(
                        order_id=placed.order_id, order_qty=qty * 2, limit_price=new_price
                    ),
                )
                await trio.sleep(pace)
                await self.step(
                    f"cancel_order {placed.order_id}",
                    lambda: k.cancel_order(order_id=[placed.order_id]),
                )
                await trio.sleep(pace)
            batch = [
                {"order_type": "limit", "side": "buy", "order_qty": qty, "limit_price": below(p)}
                for p in ("0.004", "0.005")
            ] + [
                {
                    "order_type": "limit",
                    "side": "sell",
                    "order_qty": qty,
                    "limit_price": above("0.004"),
                }
            ]
            await self.step(
                f"batch_add 3 orders on {self.pair} (2 bids, 1 ask)",
                lambda: k.batch_add(symbol=self.pair, orders=batch),
            )
            await trio.sleep(pace)
            await self.step(
                f"add_order market buy {qty} {self.pair} (takes liquidity)",
                lambda: k.add_order(
                    order_type="market", side="buy", symbol=self.pair, order_qty=qty
                ),
            )
            await trio.sleep(pace)
            await self.step("cancel_all", k.cancel_all)
            await trio.sleep(pace)
            self.say(f"dead man's switch: {switch.refreshes} refresh(es); disarming on exit")
        self.say(f"< disarmed (cancel_all_orders_after timeout=0)  {DIM}session done{RESET}")

    async def run(self, seed: int, scope: trio.CancelScope) -> None:
        """Start the fake exchange and the client, run every task until the duration ends."""
        from ..testing import open_fake_kraken

        with log_to(self.notes if self.live else None):
            async with open_fake_kraken(seed=seed, update_interval=0.05) as fake:
                self.endpoint = fake.endpoints[WsKey.SPOT_PUBLIC_V2]
                self.line(
                    f"kraken-trio demo: embedded fake exchange at {self.endpoint} "
                    f"(REST {fake.rest_url}); running {self.duration:g} s"
                )
                async with open_kraken(
                    fake.api_key,
                    fake.api_secret,
                    endpoints=fake.endpoints,
                    rest_url=fake.rest_url,
                ) as k:
                    pairs = await k.instrument_pairs()
                    if self.pair not in pairs:
                        known = ", ".join(sorted(pairs))
                        raise _UnknownPair(f"unknown pair {self.pair!r}; the fake trades {known}")
                    pace = min(1.2, max(0.05, self.duration / 16))
                    with trio.move_on_after(self.duration):
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(self.watch_book, k)
                            nursery.start_soon(self.watch_trades, k)
                            nursery.start_soon(self.watch_executions, k)
                            nursery.start_soon(self.watch_balances, k)
                            nursery.start_soon(self.render)
                            await self.trading_session(k, pace)
                            # The session is done; keep the market on screen until the end.
                            await trio.sleep_forever()

    def finish(self) -> None:
        """The last frame (live) or the summary line (plain)."""
        if self.screen is not None:
            self.screen.draw(self.frame(Screen.size()[1] - 4))  # room for the summary
            self.screen.close()
        book = self.book
        updates = book.updates if book is not None else 0
        resyncs = book.resyncs if book is not None else 0
        summary = [
            f"demo finished after {self.elapsed():.1f}s: {updates} book updates verified, "
            f"{resyncs} resyncs, {self.trades_seen} trades,",
            f"{self.steps_done} requests answered ({self.errors} refused), "
            f"{self.executions_seen} executions",
        ]
        base, _, quote = self.pair.partition("/")
        wallet = ", ".join(f"{a} {self.balances[a]}" for a in (base, quote) if a in self.balances)
        if wallet:
            summary.append(f"balances now: {wallet}")
        for text in summary:
            if self.live:
                self.out.write(text + "\n")
            else:
                self.line(text)
        self.out.flush()


class _UnknownPair(InvalidRequestError):
    pass


def _to_tick(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return (price / tick).to_integral_value(rounding=rounding) * tick


def _describe(result: Any) -> str:
    if isinstance(result, s.AddOrderResult):
        return f"order_id {result.order_id}"
    if isinstance(result, s.AmendOrderResult):
        return f"amended (amend_id {result.amend_id})"
    if isinstance(result, int):
        return f"{result} order(s) cancelled"
    if isinstance(result, list):
        if result and isinstance(result[0], s.CancelOrderResult):
            return "cancelled " + ", ".join(str(r.order_id) for r in result)
        ids = [r.order_id or f"refused: {r.error}" for r in result]
        return "placed " + ", ".join(str(i) for i in ids)
    return str(result)


def _columns(left: list[str], right: list[str], width: int) -> list[str]:
    out = []
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ""
        b = right[i] if i < len(right) else ""
        pad = width - len(_plain(a))
        out.append(a + " " * max(1, pad) + b)
    return out


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=15.0,
        help="seconds to run (default 15); Ctrl-C ends it earlier",
    )
    parser.add_argument("--pair", default="BTC/USD", help="the pair to show (default BTC/USD)")
    parser.add_argument("--seed", type=int, default=0, help="market seed (default 0)")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="plain lines even on a terminal (the default when stdout is not a terminal)",
    )


def _run(args: argparse.Namespace) -> int:
    out = sys.stdout
    live = out.isatty() and not args.plain
    if not args.pair or "/" not in args.pair:
        print(
            f"kraken-trio demo: --pair must look like BTC/USD, got {args.pair!r}", file=sys.stderr
        )
        return EXIT_ARGS
    demo = Demo(args.pair, args.duration, out, live=live)

    async def main(scope: trio.CancelScope) -> None:
        try:
            await demo.run(args.seed, scope)
        except BaseException as exc:
            if classify(exc) == (EXIT_OK, ""):  # Ctrl-C: still a clean end, with the summary
                demo.finish()
            elif demo.screen is not None:
                demo.screen.close()
            raise
        demo.finish()

    return run_trio("kraken-trio demo", main)


COMMAND = Command(
    name="demo",
    help="watch the library at work against the embedded fake exchange (offline)",
    configure=_configure,
    run=_run,
)
