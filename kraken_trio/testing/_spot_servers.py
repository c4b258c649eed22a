"""The Spot v2 endpoints: public (and beta public), private (and beta private) and level3."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import trio

from ._market import (
    BOOK_DEPTHS,
    L3_DEPTHS,
    OHLC_INTERVALS,
    BookEvent,
    MarketEvent,
    OhlcEvent,
    TickerEvent,
    TradeEvent,
)
from ._spot import (
    EXECUTIONS_WARNINGS,
    TRADING_METHODS,
    Conn,
    RequestError,
    SpotServer,
    response_frame,
)
from ._spot_frames import (
    book_checksum,
    book_snapshot_frame,
    book_update_frame,
    instrument_frame,
    l3_checksum,
    l3_snapshot_frame,
    l3_update_frame,
    ohlc_frame,
    ticker_frame,
    trade_frame,
)
from ._spot_hub import (
    Exchange,
)
from ._wire import encode, to_wire

__all__ = ["Level3Server", "PrivateServer", "PublicServer"]


class PublicServer(SpotServer):
    """Spot v2 public endpoint: ticker, book, trade, ohlc, instrument (also the beta one)."""

    channels = frozenset({"ticker", "book", "trade", "ohlc", "instrument"})

    def script(self, channel: str, symbol: str, frames: Sequence[str]) -> None:
        """Answer subscriptions to ``(channel, symbol)`` with recorded ``frames``.

        After its ack, a subscriber gets these frames, in order, instead of the synthetic
        snapshot (a recording of real Kraken data, say). The symbol must be one of the
        market's pairs; do not step the market for it while the script is in use.
        """
        if self.market.books.get(symbol) is None:
            raise ValueError(f"{symbol!r} is not a pair of this market")
        self._scripts[(channel, symbol)] = list(frames)

    def _subscribe_frames(
        self,
        conn: Conn,
        method: str,
        channel: str,
        params: dict[str, Any],
        req_id: int | None,
        time_in: str,
    ) -> list[str]:
        frames = self._synthetic_frames(conn, method, channel, params, req_id, time_in)
        if not self._scripts or method != "subscribe":
            return frames
        out: list[str] = []
        for frame in frames:
            if '"snapshot"' in frame and frame.startswith('{"channel"'):
                msg = json.loads(frame)
                data = msg.get("data")
                symbol = data[0].get("symbol") if isinstance(data, list) and data else None
                script = self._scripts.get((str(msg.get("channel")), str(symbol)))
                if script is not None:
                    out.extend(script)
                    continue
            out.append(frame)
        return out

    def _synthetic_frames(
        self,
        conn: Conn,
        method: str,
        channel: str,
        params: dict[str, Any],
        req_id: int | None,
        time_in: str,
    ) -> list[str]:
        now = time.time()
        if channel == "instrument":
            return self._instrument(conn, method, params, req_id, time_in)
        symbols = self._symbols(params)
        snapshot = self._bool(params, "snapshot", True)
        if channel == "book":
            depth = self._depth(params, BOOK_DEPTHS)
            return self._per_symbol(
                conn,
                method,
                channel,
                symbols,
                {"depth": depth, "snapshot": snapshot},
                {"depth": depth},
                req_id,
                time_in,
                lambda book: book_snapshot_frame(book, depth, now),
            )
        if channel == "ticker":
            trigger = params.get("event_trigger", "trades")
            if trigger not in ("bbo", "trades"):
                raise RequestError("Unsupported event_trigger")
            return self._per_symbol(
                conn,
                method,
                channel,
                symbols,
                {"event_trigger": trigger, "snapshot": snapshot},
                {"event_trigger": trigger},
                req_id,
                time_in,
                lambda book: ticker_frame(book, "snapshot", now),
            )
        if channel == "trade":
            return self._per_symbol(
                conn,
                method,
                channel,
                symbols,
                {"snapshot": snapshot},
                {},
                req_id,
                time_in,
                lambda book: trade_frame(book, list(book.trades), "snapshot"),
            )
        # ohlc
        interval = params.get("interval", 1)
        if interval not in OHLC_INTERVALS or isinstance(interval, bool):
            raise RequestError("Subscription ohlc interval not supported")
        return self._per_symbol(
            conn,
            method,
            channel,
            symbols,
            {"interval": interval, "snapshot": snapshot},
            {"interval": interval},
            req_id,
            time_in,
            lambda book: ohlc_frame(book, interval, "snapshot", now),
            ["timestamp is deprecated, use interval_begin"],
        )

    def _instrument(
        self, conn: Conn, method: str, params: dict[str, Any], req_id: int | None, time_in: str
    ) -> list[str]:
        key: tuple[str, str | None] = ("instrument", None)
        snapshot = self._bool(params, "snapshot", True)
        if method == "subscribe":
            if key in conn.subs:
                return [response_frame(method, req_id, time_in, error="Already subscribed")]
            self._add_sub(conn, key, {"snapshot": snapshot})
            result = {
                "channel": "instrument",
                "snapshot": snapshot,
                "warnings": ["tick_size is deprecated, use price_increment"],
            }
            frames = [response_frame(method, req_id, time_in, result=result)]
            if snapshot:
                frames.append(instrument_frame(self.market))
            return frames
        if key not in conn.subs:
            return [response_frame("subscribe", req_id, time_in, error="Subscription Not Found")]
        self._remove_sub(conn, key)
        return [response_frame(method, req_id, time_in, result={"channel": "instrument"})]

    def _on_market(self, event: MarketEvent) -> None:
        book = self.market.books[event.symbol]
        if isinstance(event, BookEvent):
            subs = self._index.get(("book", event.symbol))
            if not subs:
                return
            cache = event.cache
            if "crc" not in cache:
                cache["crc"] = book_checksum(book)
            checksum: int = cache["crc"]
            corrupt = self.faults.corrupt_pending(event.symbol)
            sent = False
            frames: dict[int, str | None] = {}
            for conn in list(subs.values()):
                depth = conn.subs[("book", event.symbol)]["depth"]
                if depth not in frames:
                    ckey = ("book", depth)
                    if corrupt:
                        frames[depth] = book_update_frame(
                            book, event, depth, (checksum + 1) & 0xFFFFFFFF
                        )
                    else:
                        if ckey not in cache:
                            cache[ckey] = book_update_frame(book, event, depth, checksum)
                        frames[depth] = cache[ckey]
                frame = frames[depth]
                if frame is not None:
                    conn.push_update(frame)
                    sent = True
            if corrupt and sent:
                self.faults.take_corrupt(event.symbol)
        elif isinstance(event, TradeEvent):
            subs = self._index.get(("trade", event.symbol))
            if subs:
                if "trade" not in event.cache:
                    event.cache["trade"] = trade_frame(book, event.trades, "update")
                for conn in list(subs.values()):
                    conn.push_update(event.cache["trade"])
        elif isinstance(event, TickerEvent):
            subs = self._index.get(("ticker", event.symbol))
            if subs:
                if "ticker" not in event.cache:
                    event.cache["ticker"] = ticker_frame(book, "update", event.t)
                for conn in list(subs.values()):
                    if conn.subs[("ticker", event.symbol)]["event_trigger"] == event.trigger:
                        conn.push_update(event.cache["ticker"])
        elif isinstance(event, OhlcEvent):
            subs = self._index.get(("ohlc", event.symbol))
            if subs:
                for conn in list(subs.values()):
                    interval = conn.subs[("ohlc", event.symbol)]["interval"]
                    ckey = ("ohlc", interval)
                    if ckey not in event.cache:
                        event.cache[ckey] = ohlc_frame(book, interval, "update", event.t)
                    conn.push_update(event.cache[ckey])


class PrivateServer(PublicServer):
    """Spot v2 authenticated endpoint: executions, balances, the eight trading methods.

    Public channels are served here too, as on ``ws-auth.kraken.com``.
    """

    channels = PublicServer.channels | {"executions", "balances"}

    def __init__(self, name: str, exchange: Exchange, *, heartbeat_interval: float = 1.0) -> None:
        super().__init__(name, exchange, heartbeat_interval=heartbeat_interval)
        self._private: dict[str, dict[str, dict[int, Conn]]] = {}
        exchange.register_private(self)

    def _account(self, params: dict[str, Any]) -> str:
        token = params.get("token")
        if self.faults.take_auth_reject():
            raise RequestError("Token(s) not found")
        account = self.exchange.tokens.lookup(token, time.time())
        if account is None:
            raise RequestError("Token(s) not found")
        return account

    def _subscribe_frames(
        self,
        conn: Conn,
        method: str,
        channel: str,
        params: dict[str, Any],
        req_id: int | None,
        time_in: str,
    ) -> list[str]:
        if channel not in ("executions", "balances"):
            return super()._subscribe_frames(conn, method, channel, params, req_id, time_in)
        account = self._account(params)
        if "users" in params:
            raise RequestError(
                "EGeneral:Invalid arguments:users is not supported by the fake exchange"
            )
        engine = self.exchange.engine
        if engine is None:
            raise RequestError("EGeneral:Internal error")
        key: tuple[str, str | None] = (channel, None)
        if method == "unsubscribe":
            if key not in conn.subs:
                return [
                    response_frame("subscribe", req_id, time_in, error="Subscription Not Found")
                ]
            self._remove_sub(conn, key)
            self._private.get(account, {}).get(channel, {}).pop(conn.id, None)
            return [response_frame(method, req_id, time_in, result={"channel": channel})]
        if key in conn.subs:
            return [response_frame(method, req_id, time_in, error="Already subscribed")]
        frames: list[str] = []
        if channel == "executions":
            # ``snapshot`` and ``snapshot_trades`` are the deprecated names of the two options.
            snap_orders = self._bool(params, "snap_orders", self._bool(params, "snapshot", True))
            snap_trades = self._bool(
                params, "snap_trades", self._bool(params, "snapshot_trades", False)
            )
            self._add_sub(conn, key, {"snap_orders": snap_orders, "snap_trades": snap_trades})
            result: dict[str, Any] = {
                "channel": channel,
                "maxratecount": engine.max_rate_count,
                "snap_orders": snap_orders,
                "snap_trades": snap_trades,
                "warnings": EXECUTIONS_WARNINGS,
            }
            frames.append(response_frame(method, req_id, time_in, result=result))
            data = engine.executions_snapshot(
                account, snap_orders=snap_orders, snap_trades=snap_trades
            )
        else:
            snapshot = self._bool(params, "snapshot", True)
            self._add_sub(conn, key, {"snapshot": snapshot})
            frames.append(
                response_frame(
                    method, req_id, time_in, result={"channel": channel, "snapshot": snapshot}
                )
            )
            data = engine.balances_snapshot(account) if snapshot else []
        conn.account = account
        self._private.setdefault(account, {}).setdefault(channel, {})[conn.id] = conn
        if channel == "executions" or conn.subs[key]["snapshot"]:
            frames.append(self._private_frame(conn, channel, "snapshot", data))
        return frames

    def _private_frame(
        self, conn: Conn, channel: str, kind: str, data: list[dict[str, Any]]
    ) -> str:
        return encode(
            {
                "channel": channel,
                "type": kind,
                "data": to_wire(data),
                "sequence": conn.next_sequence(channel),
            }
        )

    def deliver(self, account: str, channel: str, data: list[dict[str, Any]]) -> None:
        """Send an engine event to ``account``'s ``channel`` subscribers on this server."""
        subs = self._private.get(account, {}).get(channel)
        if not subs:
            return
        for conn in list(subs.values()):
            conn.push_update(self._private_frame(conn, channel, "update", data))

    def _forget(self, conn: Conn) -> None:
        if conn.account is not None:
            for subs in self._private.get(conn.account, {}).values():
                subs.pop(conn.id, None)
        super()._forget(conn)

    async def _method(
        self, conn: Conn, method: str, params: dict[str, Any], req_id: int | None, time_in: str
    ) -> None:
        if method not in TRADING_METHODS:
            raise RequestError("Unsupported event")
        account = self._account(params)
        if self.faults.take_rate_limit():
            raise RequestError("EOrder:Rate limit exceeded")
        engine = self.exchange.engine
        if engine is None:
            raise RequestError("EGeneral:Internal error")
        clean = {k: v for k, v in params.items() if k != "token"}
        replies = engine.request(account, method, clean, time.time())
        if self.faults.delay > 0:
            await trio.sleep(self.faults.delay)
        for reply in replies:
            if reply.success:
                frame = response_frame(
                    method,
                    req_id,
                    time_in,
                    result=None if reply.result is None else to_wire(reply.result),
                    extra=to_wire(reply.extra) if reply.extra else None,
                )
            else:
                frame = response_frame(
                    method, req_id, time_in, error=reply.error or "EGeneral:Error"
                )
            conn.push(frame)
        self.exchange.pump()
        self.exchange.requests_handled()


class Level3Server(SpotServer):
    """Spot v2 level3 endpoint (``ws-l3``): token required, L3 snapshots and updates."""

    channels = frozenset({"level3"})

    def _subscribe_frames(
        self,
        conn: Conn,
        method: str,
        channel: str,
        params: dict[str, Any],
        req_id: int | None,
        time_in: str,
    ) -> list[str]:
        token = params.get("token")
        if (
            self.faults.take_auth_reject()
            or self.exchange.tokens.lookup(token, time.time()) is None
        ):
            raise RequestError("Token(s) not found")
        symbols = self._symbols(params)
        snapshot = self._bool(params, "snapshot", True)
        depth = self._depth(params, L3_DEPTHS)
        if method == "subscribe":
            new = [s for s in symbols if ("level3", s) not in conn.subs]
            held = sum(1 for key in conn.subs if key[0] == "level3")
            refused = self.exchange.limits.level3_subscribe(
                conn.id, depth, new, held, trio.current_time()
            )
            if refused is not None:
                raise RequestError(refused)
        return self._per_symbol(
            conn,
            method,
            channel,
            symbols,
            {"depth": depth, "snapshot": snapshot},
            {"depth": depth},
            req_id,
            time_in,
            lambda book: l3_snapshot_frame(book, depth),
        )

    def _on_market(self, event: MarketEvent) -> None:
        if not isinstance(event, BookEvent):
            return
        subs = self._index.get(("level3", event.symbol))
        if not subs:
            return
        book = self.market.books[event.symbol]
        cache = event.cache
        if "l3crc" not in cache:
            cache["l3crc"] = l3_checksum(book)
        checksum: int = cache["l3crc"]
        corrupt = self.faults.corrupt_pending(event.symbol)
        sent = False
        frames: dict[int, str | None] = {}
        for conn in list(subs.values()):
            depth = conn.subs[("level3", event.symbol)]["depth"]
            if depth not in frames:
                if corrupt:
                    frames[depth] = l3_update_frame(book, event, depth, (checksum + 1) & 0xFFFFFFFF)
                else:
                    ckey = ("level3", depth)
                    if ckey not in cache:
                        cache[ckey] = l3_update_frame(book, event, depth, checksum)
                    frames[depth] = cache[ckey]
            frame = frames[depth]
            if frame is not None:
                conn.push_update(frame)
                sent = True
        if corrupt and sent:
            self.faults.take_corrupt(event.symbol)
