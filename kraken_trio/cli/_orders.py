"""``kraken-trio orders``: a live view of the account's open orders and fills.

Built on :meth:`kraken_trio.KrakenClient.orders`, so it stays right across reconnects. On a
terminal it redraws a table of open orders and the latest fills; piped, it writes JSON lines:
first ``{"event": "open", "order": {...}}`` for each order open at the start, then
``{"event": "update", "order": {...}, "fill": {...} | null, "reconciled": bool}`` for each
change. Prices and quantities are exact decimal strings.
"""

from __future__ import annotations

import argparse
import sys
from collections import deque
from contextlib import AsyncExitStack
from typing import Any, TextIO

import msgspec
import trio

from .._config import WsKey
from .._open import open_kraken
from .._orders import Fill, OrderState, OrderTracker, OrderUpdate
from . import Command
from ._output import (
    EXIT_ARGS,
    JsonLines,
    Screen,
    log_to,
    positive_float,
    positive_int,
    run_trio,
    url_type,
)
from ._streams import _credentials_from_env, _d

__all__ = ["COMMAND", "OrdersView", "order_record"]

_FILLS_SHOWN = 10


def order_record(event: str, item: OrderState | OrderUpdate) -> dict[str, Any]:
    """One JSON line: Decimals as exact strings, times as ISO-8601 text."""
    if isinstance(item, OrderUpdate):
        body: dict[str, Any] = msgspec.to_builtins(item)
        return {"event": event, **body}
    return {"event": event, "order": msgspec.to_builtins(item)}


class OrdersView:
    """The terminal view: open orders, then the latest fills."""

    def __init__(self) -> None:
        self.open: dict[str, OrderState] = {}
        self.fills: deque[tuple[OrderState, Fill, bool]] = deque(maxlen=_FILLS_SHOWN)
        self.notes: list[str] = []
        self.updates = 0

    def feed(self, update: OrderUpdate) -> None:
        """Apply one update."""
        self.updates += 1
        order = update.order
        if order.is_open:
            self.open[order.order_id] = order
        else:
            self.open.pop(order.order_id, None)
        if update.fill is not None:
            self.fills.appendleft((order, update.fill, update.reconciled))

    def render(self, rows: int) -> list[str]:
        """The lines of one frame."""
        lines = [f"kraken-trio orders: {len(self.open)} open, {self.updates} update(s)", ""]
        lines.append(
            f"{'order_id':<22} {'symbol':<10} {'side':<4} {'type':<10} {'status':<16} "
            f"{'qty':>14} {'filled':>14} {'limit':>14}"
        )
        for o in list(self.open.values())[: max(0, rows - 8 - _FILLS_SHOWN)]:
            lines.append(
                f"{o.order_id:<22} {o.symbol or '-':<10} {o.side or '-':<4} "
                f"{o.order_type or '-':<10} {o.order_status:<16} {_d(o.order_qty):>14} "
                f"{_d(o.cum_qty):>14} {_d(o.limit_price):>14}"
            )
        lines += ["", "latest fills:"]
        for order, fill, reconciled in self.fills:
            mark = " (reconciled)" if reconciled else ""
            lines.append(
                f"  {order.order_id} {order.side or ''} {_d(fill.qty)} {order.symbol or ''} "
                f"@ {_d(fill.price)} fee {_d(fill.fee)}{mark}"
            )
        lines += [f"! {note}" for note in self.notes[-3:]]
        return lines


async def watch(args: argparse.Namespace, out: TextIO, *, json_mode: bool) -> None:
    """Track orders and print until ``--count`` lines, ``--duration`` or Ctrl-C."""
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
            key, secret = _credentials_from_env(
                ("KRAKEN_API_KEY", "KRAKEN_API_SECRET"), "orders (a private channel)"
            )
            options.update(api_key=key, api_secret=secret)
            if args.endpoint:
                options["endpoints"] = {WsKey.SPOT_PRIVATE_V2: args.endpoint}
            if args.rest_url:
                options["rest_url"] = args.rest_url
        view = OrdersView()
        screen = None if json_mode else Screen(out)
        stack.enter_context(log_to(view.notes if screen is not None else None))
        k = await stack.enter_async_context(open_kraken(**options))
        lines = await stack.enter_async_context(JsonLines(out))
        if screen is not None:
            stack.callback(screen.close)
            screen.draw(["kraken-trio orders: connecting ..."])
        with trio.move_on_after(args.duration if args.duration else float("inf")):
            async with k.orders() as orders:
                await _show(args, orders, view, screen, lines)
        if screen is not None:
            screen.draw(view.render(screen.size()[1]))


async def _show(
    args: argparse.Namespace,
    orders: OrderTracker,
    view: OrdersView,
    screen: Screen | None,
    lines: JsonLines,
) -> None:
    count = 0
    for state in orders.open.values():
        view.open[state.order_id] = state
        if screen is None:
            await lines.write(order_record("open", state))
            count += 1
    if screen is not None:
        screen.draw(view.render(screen.size()[1]))
    if args.count and count >= args.count:
        return
    async for update in orders:
        view.feed(update)
        if screen is None:
            await lines.write(order_record("update", update))
        else:  # order updates are few: draw each
            screen.draw(view.render(screen.size()[1]))
        count += 1
        if args.count and count >= args.count:
            return


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fake",
        action="store_true",
        help="run against the embedded fake exchange (in-process, offline) instead of Kraken",
    )
    parser.add_argument("--count", type=positive_int, help="stop after N lines (JSON mode)")
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
        help="override the private WebSocket URL (ws:// or wss://)",
    )
    parser.add_argument(
        "--rest-url",
        metavar="URL",
        type=url_type("http://", "https://"),
        help="override the REST base URL (tokens, QueryOrders)",
    )
    parser.add_argument(
        "--max-reconnects",
        type=int,
        default=3,
        metavar="N",
        help="consecutive failed connection attempts before giving up (default 3)",
    )


def _run(args: argparse.Namespace) -> int:
    prog = "kraken-trio orders"
    if args.max_reconnects < 0:
        print(f"{prog}: --max-reconnects must be >= 0", file=sys.stderr)
        return EXIT_ARGS
    out = sys.stdout
    json_mode = bool(args.json) or not out.isatty()

    async def main(scope: trio.CancelScope) -> None:
        del scope
        await watch(args, out, json_mode=json_mode)

    return run_trio(prog, main)


COMMAND = Command(
    name="orders",
    help="live view of your open orders and fills, reconciled across reconnects "
    "(needs credentials)",
    configure=_configure,
    run=_run,
)
