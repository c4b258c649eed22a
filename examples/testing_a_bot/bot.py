"""A small market-making bot, written to be tested offline (see ``test_bot.py``).

It keeps one post-only bid ``offset_ticks`` below the best bid of a verified local book,
amends it when the market moves ``reprice_ticks`` away, runs under a dead man's switch, and
cancels everything when it stops. The client is passed in, so a test can point it at the fake
exchange and production code at Kraken: the bot itself does not know the difference.

    python examples/testing_a_bot/bot.py --fake --duration 5
"""

from __future__ import annotations

import argparse
import sys
from decimal import ROUND_FLOOR, Decimal

import trio

from kraken_trio import KrakenClient, KrakenError, open_kraken


class QuoteBot:
    """One resting bid that follows the best bid."""

    def __init__(
        self,
        client: KrakenClient,
        symbol: str,
        qty: Decimal,
        *,
        offset_ticks: int = 20,
        reprice_ticks: int = 5,
    ) -> None:
        self.client = client
        self.symbol = symbol
        self.qty = qty
        self.offset_ticks = offset_ticks
        self.reprice_ticks = reprice_ticks
        self.order_id: str | None = None
        self.price: Decimal | None = None
        self.amends = 0
        self.quoted = trio.Event()
        self.amended = trio.Event()  # set at each amend, then replaced by a fresh one

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Quote until cancelled; cancels every order on the way out."""
        k = self.client
        tick = (await k.instrument_pairs())[self.symbol].price_increment
        try:
            async with (
                k.dead_mans_switch(timeout=60, refresh_every=20),
                k.book(self.symbol, depth=10) as book,
            ):
                task_status.started()
                async for _event in book:
                    if not book.synced or book.best_bid is None:
                        continue
                    target = book.best_bid[0] - tick * self.offset_ticks
                    target = (target / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
                    await self._quote(target, tick)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                try:
                    await k.cancel_all()
                except KrakenError as exc:
                    print(f"could not cancel on exit: {exc}", file=sys.stderr)

    async def _quote(self, target: Decimal, tick: Decimal) -> None:
        if self.order_id is None:
            result = await self.client.add_order(
                order_type="limit",
                side="buy",
                symbol=self.symbol,
                order_qty=self.qty,
                limit_price=target,
                post_only=True,
            )
            self.order_id, self.price = result.order_id, target
            self.quoted.set()
        elif self.price is not None and abs(target - self.price) >= tick * self.reprice_ticks:
            await self.client.amend_order(
                order_id=self.order_id, order_qty=self.qty, limit_price=target
            )
            self.price = target
            self.amends += 1
            self.amended.set()
            self.amended = trio.Event()


async def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="run the quote bot")
    p.add_argument("--fake", action="store_true")
    p.add_argument("--duration", type=float, default=10.0)
    args = p.parse_args(argv)
    if not args.fake:
        raise SystemExit("this bot is an example: run it with --fake")
    from kraken_trio.testing import open_fake_kraken

    async with (
        open_fake_kraken() as fake,
        open_kraken(
            fake.api_key, fake.api_secret, endpoints=fake.endpoints, rest_url=fake.rest_url
        ) as k,
    ):
        bot = QuoteBot(k, "BTC/USD", Decimal("0.001"))
        with trio.move_on_after(args.duration):
            await bot.run()
        print(f"quoted {bot.order_id} at {bot.price}, {bot.amends} amend(s); all cancelled on exit")
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
