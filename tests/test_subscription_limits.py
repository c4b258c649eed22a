"""Many subscriptions against the fake exchange's subscription limits (issue 15, section 3).

The fake enforces Kraken's level3 counter (5 per symbol at depth 10 against 200 per second),
the 200 symbols per level3 connection, and here a spot message rate; every refusal is
recorded in ``fake.limits.refusals``.
"""

from __future__ import annotations

from decimal import Decimal

import trio
import trio.testing
from support import client_for

from kraken_trio import WsKey
from kraken_trio.testing import PairSpec, open_fake_kraken

RECONNECTS = 10
SYMBOLS = [f"C{i:03d}/USD" for i in range(200)]
PAIRS = [
    PairSpec(s, s.split("/")[0], "USD", 2, 8, Decimal("0.01"), Decimal("0.5"), 5, Decimal("100"))
    for s in SYMBOLS
]


async def test_600_subscriptions_survive_10_reconnects_without_a_refusal(
    mock_clock: trio.testing.MockClock,
) -> None:
    # Virtual time: the pacing waits (about 5 s per reconnect for 200 level3 symbols) pass
    # as soon as every task waits; real loopback I/O completes well within the threshold.
    mock_clock.autojump_threshold = 0.05
    async with open_fake_kraken(pairs=PAIRS, update_interval=None) as fake:
        fake.limits.spot_messages_per_second = 20  # chosen: Kraken publishes no number
        async with (
            client_for(fake) as k,
            k.subscribe("ticker", symbol=SYMBOLS),
            k.subscribe("book", symbol=SYMBOLS, depth=10),
            k.subscribe("level3", symbol=SYMBOLS, depth=10),
        ):

            def all_live() -> bool:
                public = sum(len(v) for v in fake.public.live_subscriptions().values())
                level3 = sum(len(v) for v in fake.level3.live_subscriptions().values())
                return public == 400 and level3 == 200

            with trio.fail_after(120):
                await fake.public.wait_until(all_live)
                for _ in range(RECONNECTS):
                    await fake.spot_faults(WsKey.SPOT_PUBLIC_V2).drop()
                    await fake.spot_faults(WsKey.SPOT_L3_V2).drop()
                    await fake.public.wait_until(all_live)
                    await fake.level3.wait_until(all_live)
        assert fake.limits.refusals == []
