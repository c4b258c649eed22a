"""``k.orders()``: the account's own orders from the ``executions`` channel, reconciled.

The tracker subscribes ``executions`` with ``snap_orders`` and ``snap_trades`` (sharing the
wire with every other subscriber asking the same) and keeps one :class:`OrderState` per
order. After a reconnect the library sends a ``Gap(reason="reconnect")`` and a fresh
snapshot; the tracker compares the snapshot with what it held, applies fills it missed (the
snapshot's recent trades, deduplicated by ``exec_id``), and looks up every order that left
the open set meanwhile with REST ``QueryOrders`` for its final status, filled quantity and
average price. What it learns that way comes out as ``OrderUpdate(reconciled=True)``; an
order whose fills it could not all recover says so with ``fills_complete=False``.

The first snapshot is the starting state (``open`` when the block begins); the iterator
yields the changes after it. The state is always complete. Updates are buffered for the
iterator (``buffer_size``); one that does not fit is dropped and counted in
:attr:`OrderTracker.missed`, never the state.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, Self

import msgspec
import trio

from ._errors import ClosedError, KrakenError, RequestTimeoutError
from ._events import Gap
from ._proto import spot as s
from ._rest import OrderInfo, query_orders

if TYPE_CHECKING:
    from ._config import Config
    from ._rest import TokenSource
    from ._subscription import Subscription


class TrackerClient(Protocol):
    """What a tracker needs from its client (:class:`~kraken_trio.KrakenClient` has it)."""

    config: Config

    def token_source(self) -> TokenSource: ...

    def subscribe(self, channel: str, **params: Any) -> Subscription[Any]: ...


__all__ = ["Fill", "OrderState", "OrderTracker", "OrderUpdate", "track_orders"]

log = logging.getLogger("kraken_trio")

_ZERO = Decimal(0)
FINAL_STATUSES = frozenset({"filled", "canceled", "expired"})
_REST_STATUS = {
    "closed": "filled",
    "canceled": "canceled",
    "expired": "expired",
    "pending": "pending_new",
}
_MAX_CLOSED = 10_000  # closed orders kept for get() (oldest forgotten first)
_MAX_SEEN_FILLS = 100_000
_LOOKUP_ATTEMPTS = 3


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One execution of an order.

    Attributes:
        exec_id: Kraken's execution id (fills are deduplicated by it).
        qty: Quantity filled.
        price: Price of this fill.
        fee: Total fee charged on it.
        fee_asset: The asset of the fee, when Kraken says.
        liquidity: ``"m"`` (maker) or ``"t"`` (taker), when Kraken says.
        timestamp: When it happened.
    """

    exec_id: str
    qty: Decimal
    price: Decimal
    fee: Decimal = _ZERO
    fee_asset: str | None = None
    liquidity: str | None = None
    timestamp: datetime | None = None


class OrderState(msgspec.Struct, frozen=True, kw_only=True):
    """An order as the tracker knows it (a new object after every change).

    Attributes:
        order_id: Kraken's order id.
        cl_ord_id: The client order id, if one was given.
        order_userref: The user reference, if any.
        symbol: The pair (``"BTC/USD"``), once known.
        side: ``"buy"`` or ``"sell"``, once known.
        order_type: ``"limit"``, ``"market"``..., once known.
        order_status: ``pending_new``, ``new``, ``partially_filled``, ``filled``,
            ``canceled`` or ``expired`` (Kraken's words).
        order_qty: The order's quantity, once known.
        limit_price: Its limit price, where it has one.
        cum_qty: Quantity filled so far.
        avg_price: Average fill price (0 before the first fill).
        fees: Fees charged so far (sum over fills, or Kraken's total after a look-up).
        fills: The fills seen, in order, without duplicates.
        fills_complete: False when the fills do not add up to ``cum_qty`` (some happened
            while the link was down and were not in the snapshot's recent trades).
        last_update: Time of the last change Kraken reported.
    """

    order_id: str
    cl_ord_id: str | None = None
    order_userref: int | None = None
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    order_status: str = "pending_new"
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    cum_qty: Decimal = _ZERO
    avg_price: Decimal = _ZERO
    fees: Decimal = _ZERO
    fills: tuple[Fill, ...] = ()
    fills_complete: bool = True
    last_update: datetime | None = None

    @property
    def is_open(self) -> bool:
        """True until the order is filled, canceled or expired."""
        return self.order_status not in FINAL_STATUSES


class OrderUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One change of one order, in the order the exchange reported them.

    Attributes:
        order: The order's state after the change.
        fill: The fill that caused it, if one did.
        reconciled: True when learnt while reconciling after a reconnect.
    """

    order: OrderState
    fill: Fill | None = None
    reconciled: bool = False


def _fill_of(item: s.Execution) -> Fill | None:
    if item.exec_id is None or item.last_qty is None or item.last_price is None:
        return None
    fees = item.fees or []
    return Fill(
        exec_id=item.exec_id,
        qty=item.last_qty,
        price=item.last_price,
        fee=sum((f.qty for f in fees), _ZERO),
        fee_asset=fees[0].asset if fees else None,
        liquidity=item.liquidity_ind,
        timestamp=item.timestamp,
    )


def _merged(state: OrderState, item: s.Execution) -> OrderState:
    """``state`` with every field ``item`` carries (executions updates are partial)."""
    changes: dict[str, Any] = {}
    for name in (
        "cl_ord_id",
        "order_userref",
        "symbol",
        "side",
        "order_type",
        "order_status",
        "order_qty",
        "limit_price",
        "cum_qty",
        "avg_price",
    ):
        value = getattr(item, name)
        if value is not None and value != getattr(state, name):
            changes[name] = value
    if item.order_status is None and item.exec_type in FINAL_STATUSES:
        changes["order_status"] = item.exec_type
    if not state.is_open:  # an older message never reopens a closed order
        changes.pop("order_status", None)
    if "cum_qty" in changes and changes["cum_qty"] < state.cum_qty:
        changes.pop("cum_qty")  # nor takes back a fill
        changes.pop("avg_price", None)
    if not changes:
        return state
    if item.timestamp is not None:
        changes["last_update"] = item.timestamp
    return msgspec.structs.replace(state, **changes)


def _with_fill(state: OrderState, fill: Fill) -> OrderState:
    fills = (*state.fills, fill)
    filled = sum((f.qty for f in fills), _ZERO)
    cum_qty = max(state.cum_qty, filled)
    avg = state.avg_price
    if filled == cum_qty and filled > 0:
        avg = sum((f.qty * f.price for f in fills), _ZERO) / filled
    return msgspec.structs.replace(
        state,
        fills=fills,
        cum_qty=cum_qty,
        avg_price=avg,
        fees=state.fees + fill.fee,
        last_update=fill.timestamp or state.last_update,
    )


def _complete(state: OrderState) -> OrderState:
    filled = sum((f.qty for f in state.fills), _ZERO)
    complete = filled >= state.cum_qty
    if complete != state.fills_complete:
        return msgspec.structs.replace(state, fills_complete=complete)
    return state


class OrderTracker:
    """The orders of the account, kept by :func:`track_orders` (``k.orders()``).

    Attributes:
        missed: Updates dropped because the iterator fell ``buffer_size`` behind (the
            state itself is always complete).
    """

    def __init__(self, client: TrackerClient, buffer_size: int) -> None:
        self._client = client
        self._orders: dict[str, OrderState] = {}
        self._closed_ids: OrderedDict[str, None] = OrderedDict()
        self._seen_fills: OrderedDict[str, None] = OrderedDict()
        self._waiters: dict[str, trio.Event] = {}
        self._send, self._recv = trio.open_memory_channel[OrderUpdate](buffer_size)
        self._resync = False
        self._snapshots = 0
        self._closing = False
        self._starting = True
        self.missed = 0

    def __repr__(self) -> str:
        return f"<OrderTracker open={len(self.open)} known={len(self._orders)}>"

    # ------------------------------------------------------------------ public API

    @property
    def open(self) -> Mapping[str, OrderState]:
        """The open orders by ``order_id`` (a read-only snapshot)."""
        return MappingProxyType({k: v for k, v in self._orders.items() if v.is_open})

    def get(self, order_id: str) -> OrderState | None:
        """Any order seen while the tracker was open (the last 10,000 closed ones kept)."""
        return self._orders.get(order_id)

    async def closed(self, order_id: str) -> OrderState:
        """Wait until the order is filled, canceled or expired; return its final state.

        A checkpoint. Bound it with ``trio.fail_after``: an order that stays open keeps
        it waiting.

        Raises:
            ClosedError: the tracker closed before the order did.
        """
        while True:
            state = self._orders.get(order_id)
            if state is not None and not state.is_open:
                await trio.lowlevel.checkpoint()
                return state
            if self._closing:
                raise ClosedError("the order tracker is closed")
            event = self._waiters.get(order_id)
            if event is None:
                event = self._waiters[order_id] = trio.Event()
            await event.wait()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> OrderUpdate:
        try:
            return await self._recv.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    # ------------------------------------------------------------------ state changes

    def _store(self, state: OrderState, fill: Fill | None, reconciled: bool) -> None:
        order_id = state.order_id
        self._orders[order_id] = state
        if not state.is_open:
            self._closed_ids[order_id] = None
            while len(self._closed_ids) > _MAX_CLOSED:
                self._orders.pop(self._closed_ids.popitem(last=False)[0], None)
            event = self._waiters.pop(order_id, None)
            if event is not None:
                event.set()
        if self._starting:
            return  # the first snapshot is the starting state (``open``), not a change
        try:
            self._send.send_nowait(OrderUpdate(order=state, fill=fill, reconciled=reconciled))
        except trio.WouldBlock:
            self.missed += 1

    def _seen(self, exec_id: str) -> bool:
        if exec_id in self._seen_fills:
            return True
        self._seen_fills[exec_id] = None
        if len(self._seen_fills) > _MAX_SEEN_FILLS:
            self._seen_fills.popitem(last=False)
        return False

    def _apply(self, item: s.Execution, reconciled: bool) -> None:
        """One element of an executions update (or a snapshot's open order)."""
        if item.order_id is None:
            return
        old = self._orders.get(item.order_id) or OrderState(order_id=item.order_id)
        fill = _fill_of(item) if item.exec_type == "trade" else None
        if fill is not None and self._seen(fill.exec_id):
            return  # a replay: counted once already
        new = _merged(old, item)
        if fill is not None:
            new = _with_fill(new, fill)
            if item.avg_price is not None:  # Kraken's own average wins over ours
                new = msgspec.structs.replace(new, avg_price=item.avg_price)
        new = _complete(new)
        if new != old or item.order_id not in self._orders:
            self._store(new, fill, reconciled)

    # ------------------------------------------------------------------ the feed

    def _on_message(self, msg: Any) -> list[str]:
        """Handle one subscription item; returns order ids to look up over REST."""
        if isinstance(msg, Gap):
            # Reconnect, resync (a new subscriber asked for a snapshot) or overflow: events
            # may be missing until the next snapshot, which is reconciled against the state.
            self._resync = True
            return []
        if not isinstance(msg, s.ExecutionsMessage):
            return []
        if msg.type != "snapshot":
            for item in msg.data:
                self._apply(item, reconciled=False)
            return []
        self._snapshots += 1
        reconciled = self._resync and self._snapshots > 1
        self._resync = False
        trades = [d for d in msg.data if d.exec_type == "trade"]
        listed = [d for d in msg.data if d.exec_type != "trade" and d.order_id is not None]
        open_now = {d.order_id for d in listed}
        held_open = {oid for oid, st in self._orders.items() if st.is_open}
        # Fills first (each update then shows the fill that caused it), then the listing,
        # then fills of orders the listing introduced.
        later = []
        for item in trades:
            if item.order_id in self._orders:
                self._apply(item, reconciled)
            else:
                later.append(item)
        for item in listed:
            self._apply(item, reconciled)
        for item in later:
            if item.order_id in self._orders:
                self._apply(item, reconciled)
            elif item.exec_id is not None:
                self._seen(item.exec_id)  # history from before the tracker: never replayed
        return sorted(held_open - open_now) if reconciled else []

    def _resolve(self, infos: Mapping[str, OrderInfo], now: datetime) -> None:
        for order_id, info in infos.items():
            old = self._orders.get(order_id)
            if old is None:
                continue
            status = _REST_STATUS.get(info.status)
            if status is None:  # still open: the snapshot will have it next time
                continue
            new = msgspec.structs.replace(
                old,
                order_status=status,
                cum_qty=info.vol_exec,
                avg_price=info.price if info.vol_exec else old.avg_price,
                fees=info.fee,
                order_qty=old.order_qty if old.order_qty is not None else info.vol,
                last_update=(datetime.fromtimestamp(info.closetm, UTC) if info.closetm else now),
            )
            new = _complete(new)
            if new != old:
                self._store(new, None, reconciled=True)

    async def _look_up(self, order_ids: Iterable[str]) -> None:
        ids = list(order_ids)
        for attempt in range(1, _LOOKUP_ATTEMPTS + 1):
            try:
                with trio.fail_after(self._client.config.rest_timeout * 2):
                    infos = await query_orders(self._client.token_source(), ids)
            except (KrakenError, trio.TooSlowError) as exc:
                log.warning(
                    "order tracker: QueryOrders for %d order(s) failed (attempt %d): %s",
                    len(ids),
                    attempt,
                    exc,
                )
                if attempt < _LOOKUP_ATTEMPTS:
                    await trio.sleep(0.5 * attempt)
                continue
            self._resolve(infos, datetime.now(UTC))
            return
        log.error(
            "order tracker: %d order(s) left the open set while the link was down and "
            "could not be looked up; they stay as last seen: %s",
            len(ids),
            ids,
        )

    async def _run(self, sub: Any) -> None:
        async for msg in sub:
            vanished = self._on_message(msg)
            if vanished:
                await self._look_up(vanished)

    def _close(self) -> None:
        self._closing = True
        self._send.close()
        for event in self._waiters.values():
            event.set()


@asynccontextmanager
async def track_orders(
    client: TrackerClient, *, buffer_size: int | None = None
) -> AsyncIterator[OrderTracker]:
    """The implementation of :meth:`KrakenClient.orders`."""
    tracker = OrderTracker(client, buffer_size or client.config.buffer_size)
    sub = client.subscribe("executions", snap_orders=True, snap_trades=True)
    async with sub:
        # The snapshot first, so the state is whole when the block starts.
        with trio.move_on_after(client.config.request_timeout) as scope:
            while tracker._snapshots == 0:
                tracker._on_message(await sub.__anext__())
        tracker._starting = False
        if scope.cancelled_caught:
            raise RequestTimeoutError("executions snapshot", None)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tracker._run, sub, name="kraken_trio order tracker")
            try:
                yield tracker
            finally:
                nursery.cancel_scope.cancel()
                tracker._close()
