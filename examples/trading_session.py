"""Trading over the WebSocket API: place, amend, cancel, batch add, cancel all, all under a
dead man's switch. Every call is awaited like a REST call and returns a typed result.

    python examples/trading_session.py --fake
    KRAKEN_API_KEY=... KRAKEN_API_SECRET=... python examples/trading_session.py --validate

Against real Kraken, ``--validate`` (the default there) sends ``validate: true`` on add_order
and batch_add: Kraken checks the orders and places nothing.
"""

from __future__ import annotations

import sys
from decimal import ROUND_FLOOR, Decimal

import trio
from _connect import connect, parser

from kraken_trio import KrakenAPIError, RequestTimeoutError, WsKey
from kraken_trio.messages import TickerMessage


def tick_floor(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).to_integral_value(rounding=ROUND_FLOOR) * tick


async def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--pair", default="BTC/USD")
    p.add_argument("--validate", action="store_true", help="Kraken validates, places nothing")
    args = p.parse_args(argv)
    validate = args.validate or not args.fake
    symbol = args.pair
    async with connect(args.fake, private=True) as k:
        await k.connect(WsKey.SPOT_PRIVATE_V2)  # optional: pre-warm and authenticate now
        pair = (await k.instrument_pairs())[symbol]
        async with k.subscribe("ticker", symbol=[symbol]) as ticker:
            first = await ticker.__anext__()
        assert isinstance(first, TickerMessage)
        bid = first.data[0].bid
        tick = pair.price_increment
        qty = max(pair.qty_min * 10, Decimal("0.001")).quantize(pair.qty_increment)
        price = tick_floor(bid * Decimal("0.99"), tick)  # 1% below the bid: rests, never fills

        if validate:
            await k.add_order(
                order_type="limit",
                side="buy",
                symbol=symbol,
                order_qty=qty,
                limit_price=price,
                validate=True,
            )
            print(f"validated: limit buy {qty} {symbol} @ {price} (nothing placed)")
            return 0

        # The switch: if this program dies, Kraken cancels every order 60 s later. It is
        # refreshed every 20 s from a task in the client's nursery and disarmed on exit.
        async with k.dead_mans_switch(timeout=60, refresh_every=20) as switch:
            print(f"dead man's switch armed until {switch.trigger_time}")

            placed = await k.add_order(
                order_type="limit",
                side="buy",
                symbol=symbol,
                order_qty=qty,
                limit_price=price,
                post_only=True,
            )
            print(f"placed   {placed.order_id}: limit buy {qty} @ {price}")

            amended = await k.amend_order(
                order_id=placed.order_id, order_qty=qty * 2, limit_price=price - tick * 10
            )
            print(f"amended  {placed.order_id} (amend_id {amended.amend_id}): qty {qty * 2}")

            cancelled = await k.cancel_order(order_id=placed.order_id)
            print(f"cancelled {[c.order_id for c in cancelled]}")

            batch = await k.batch_add(
                symbol=symbol,
                orders=[
                    {
                        "order_type": "limit",
                        "side": "buy",
                        "order_qty": qty,
                        "limit_price": price - tick * n,
                    }
                    for n in (20, 30, 40)
                ],
            )
            print(f"batch    {[b.order_id for b in batch]}")

            try:
                await k.add_order(
                    order_type="limit",
                    side="buy",
                    symbol=symbol,
                    order_qty=Decimal("1000000"),
                    limit_price=price,
                )
            except KrakenAPIError as exc:  # Kraken said no: its own words, method and req_id
                print(f"refused  as expected: {exc.error}")
            except RequestTimeoutError as exc:  # may or may not be live: reconcile it
                print(f"no reply: {exc}")

            count = await k.cancel_all()
            print(f"cancel_all cancelled {count} order(s)")
        print("dead man's switch disarmed")
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
