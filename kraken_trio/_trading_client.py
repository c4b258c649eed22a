"""The trading half of the client: Spot orders over the WebSocket API, awaited like REST
calls; the order tracker; the rate governor; the dead man's switch."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import trio

from ._config import Config, WsKey
from ._connection import Connection
from ._errors import (
    InvalidRequestError,
    KrakenAPIError,
    KrakenError,
)
from ._events import LifecycleEvent
from ._proto import spot as s
from ._proto.auth import Credentials
from ._proto.channels import (
    TRADING_KEYS,
)
from ._proto.ratelimit import RateGovernor
from ._rate_policy import admit, learn, params_of, refused
from ._trading import (
    build_add_order,
    build_amend_order,
    build_batch_add,
    build_batch_cancel,
    build_cancel_order,
    build_edit_order,
    check_cancel_after,
    check_pair_limits,
)

__all__ = ["DeadMansSwitch", "TradingClient"]

log = logging.getLogger("kraken_trio")


class DeadMansSwitch:
    """State of an armed dead man's switch (see :meth:`KrakenClient.dead_mans_switch`).

    Attributes:
        timeout: The armed timeout in seconds.
        armed: False once disarmed on exit.
        refreshes: Successful refreshes so far.
        failures: Refreshes that failed (each also an ``exception`` lifecycle event).
        trigger_time: When Kraken would cancel everything if no refresh came.
    """

    def __init__(self, timeout: int) -> None:
        self.timeout = timeout
        self.armed = True
        self.refreshes = 0
        self.failures: list[BaseException] = []
        self.trigger_time: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"<DeadMansSwitch timeout={self.timeout} armed={self.armed} refreshes={self.refreshes}>"
        )


class TradingClient:
    """Spot trading over the WebSocket API, the order tracker and the dead man's switch:
    the trading half of :class:`~kraken_trio.KrakenClient`."""

    config: Config
    credentials: Credentials | None
    rate_governor: RateGovernor
    _connections: dict[WsKey, Connection]
    _closed: bool
    _nursery: trio.Nursery
    _pairs: dict[str, s.InstrumentPair] | None

    def connection(self, ws_key: WsKey) -> Connection:  # pragma: no cover - the client's
        """The connection of ``ws_key`` (the client provides it)."""
        raise NotImplementedError

    def emit(self, event: LifecycleEvent) -> None:  # pragma: no cover - the client's
        """Publish a lifecycle event (the client provides it)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- trading (WebSocket API)

    async def _trade(
        self,
        method: str,
        params: s._Out,
        *,
        expected: int = 1,
        open_ended: bool = False,
        cl_ord_id: str | None = None,
        ws_key: WsKey = WsKey.SPOT_PRIVATE_V2,
        order_userref: int | None = None,
        wait_for_link: bool = True,
    ) -> list[Any]:
        if self.credentials is None:
            raise InvalidRequestError(f"{method} needs api_key and api_secret")
        conn = self._connections.get(ws_key)
        if conn is None or self._closed or conn.key not in TRADING_KEYS:
            key = WsKey(ws_key)
            if key not in TRADING_KEYS:
                raise InvalidRequestError(f"trading goes over a spot private endpoint, not {key}")
            conn = self.connection(key)
        governor = self.rate_governor
        fields = params_of(params)
        costs = await admit(
            governor, self.config.rate_limit, method, fields, self.config.request_timeout
        )
        try:
            replies = await conn.request(
                method,
                params,
                expected=expected,
                open_ended=open_ended,
                cl_ord_id=cl_ord_id,
                order_userref=order_userref,
                wait_for_link=wait_for_link,
            )
        except KrakenAPIError as exc:
            refused(governor, exc, fields, costs)
            raise
        learn(governor, method, fields, replies, trio.current_time())
        return replies

    def rate_counter(self, symbol: str) -> float:
        """The modelled trading rate counter of ``symbol`` now (for dashboards).

        Kraken's counter per pair, as this client models it from its own requests (see
        :class:`Config` ``rate_tier``); 0 for a pair it has not traded.
        """
        return self.rate_governor.value(symbol, trio.current_time())

    def _check_pair_limits(self, symbol: str, orders: Sequence[tuple[str, s.BatchOrder]]) -> None:
        """Once the instrument channel was read, check ``orders`` against the pair's limits."""
        pair = (self._pairs or {}).get(symbol)
        if pair is not None:
            for what, order in orders:
                check_pair_limits(what, order, pair)

    async def add_order(
        self,
        *,
        order_type: str,
        side: str,
        symbol: str,
        order_qty: Decimal | int | str | None = None,
        limit_price: Decimal | int | str | None = None,
        ws_key: WsKey = WsKey.SPOT_PRIVATE_V2,
        **options: Any,
    ) -> s.AddOrderResult:
        """Place an order (Kraken ``add_order``; @siebly/kraken-api ``submitSpotOrder``).

        Keyword arguments are Kraken's parameter names: ``limit_price_type``, ``triggers``
        (``{"price": Decimal, "reference": "last", "price_type": "static"}``),
        ``time_in_force`` (``gtc``/``gtd``/``ioc``), ``expire_time``, ``deadline``,
        ``post_only``, ``reduce_only``, ``display_qty``, ``fee_preference``, ``stp_type``,
        ``cash_order_qty``, ``order_userref``, ``cl_ord_id``, ``conditional``, ``validate``...
        Prices and quantities are ``Decimal`` (or int / numeric str), never float.

        A checkpoint. Cancellation before the frame is handed to the connection's writer
        means nothing was sent; after it, the order may be live: reconcile it from the
        ``executions`` stream by ``cl_ord_id``.

        Returns:
            The result; ``.order_id`` is Kraken's id.

        Raises:
            InvalidRequestError: a field failed the local checks (nothing was sent); once the
                ``instrument`` channel has been read (:meth:`instrument_pairs`, or any
                :meth:`book`), these include the pair's tick size, ``qty_min`` and ``cost_min``.
            KrakenAPIError: Kraken refused the order (its text, method and req_id).
            RequestTimeoutError: no reply within the request deadline (may be live).
            ConnectionLostError: the link dropped with the request in flight (may be live;
                never resent).
        """
        params = build_add_order(
            {
                "order_type": order_type,
                "side": side,
                "symbol": symbol,
                "order_qty": order_qty,
                "limit_price": limit_price,
                **options,
            }
        )
        self._check_pair_limits(params.symbol, [("add_order", params)])
        (reply,) = await self._trade(
            "add_order",
            params,
            cl_ord_id=params.cl_ord_id,
            order_userref=params.order_userref,
            ws_key=ws_key,
        )
        result: s.AddOrderResult = reply.result
        return result

    async def amend_order(
        self, *, ws_key: WsKey = WsKey.SPOT_PRIVATE_V2, **fields: Any
    ) -> s.AmendOrderResult:
        """Amend an order in place (Kraken ``amend_order``; siebly ``amendSpotOrder``).

        Needs ``order_id`` or ``cl_ord_id`` and the new total ``order_qty``; optional
        ``limit_price``, ``display_qty``, ``trigger_price``, ``post_only``, ``deadline``...
        Queue priority is kept where possible. Cancellation semantics as :meth:`add_order`.

        Raises:
            InvalidRequestError, KrakenAPIError, RequestTimeoutError, ConnectionLostError.
        """
        params = build_amend_order(fields)
        (reply,) = await self._trade(
            "amend_order", params, cl_ord_id=params.cl_ord_id, ws_key=ws_key
        )
        result: s.AmendOrderResult = reply.result
        return result

    async def edit_order(
        self, *, ws_key: WsKey = WsKey.SPOT_PRIVATE_V2, **fields: Any
    ) -> s.EditOrderResult:
        """Cancel and replace an order (Kraken ``edit_order``; a new order id).

        Needs ``order_id`` and ``symbol``; plus what changes (``order_qty``,
        ``limit_price``, ``triggers``, ...). Queue priority is lost.

        Raises:
            InvalidRequestError, KrakenAPIError, RequestTimeoutError, ConnectionLostError.
        """
        params = build_edit_order(fields)
        (reply,) = await self._trade("edit_order", params, ws_key=ws_key)
        result: s.EditOrderResult = reply.result
        return result

    async def cancel_order(
        self,
        *,
        order_id: str | Sequence[str] | None = None,
        cl_ord_id: str | Sequence[str] | None = None,
        order_userref: int | Sequence[int] | None = None,
        ws_key: WsKey = WsKey.SPOT_PRIVATE_V2,
    ) -> list[s.CancelOrderResult]:
        """Cancel orders (Kraken ``cancel_order``; siebly ``cancelSpotOrder``).

        Kraken answers once per order; this returns when every order named is answered.

        Raises:
            KrakenAPIError: at least one order could not be cancelled (all texts joined).
            InvalidRequestError, RequestTimeoutError, ConnectionLostError.
        """
        params, count = build_cancel_order(order_id, cl_ord_id, order_userref)
        # One userref may name several orders: how many replies come is not known then.
        replies = await self._trade(
            "cancel_order",
            params,
            expected=count,
            open_ended=params.order_userref is not None,
            ws_key=ws_key,
        )
        return [r.result for r in replies]

    async def cancel_all(self, *, ws_key: WsKey = WsKey.SPOT_PRIVATE_V2) -> int:
        """Cancel every open order, untriggered ones included; returns how many.

        Raises:
            KrakenAPIError, RequestTimeoutError, ConnectionLostError.
        """
        (reply,) = await self._trade("cancel_all", s.CancelAllParams(), ws_key=ws_key)
        return int(reply.result.count)

    async def cancel_all_orders_after(
        self, timeout: int, *, ws_key: WsKey = WsKey.SPOT_PRIVATE_V2
    ) -> s.CancelAllOrdersAfterResult:
        """Arm (or with 0 disarm) the dead man's switch (Kraken ``cancel_all_orders_after``).

        Raises:
            InvalidRequestError, KrakenAPIError, RequestTimeoutError, ConnectionLostError.
        """
        return await self._cancel_after(timeout, ws_key)

    async def _cancel_after(
        self, timeout: int, ws_key: WsKey, *, wait_for_link: bool = True
    ) -> s.CancelAllOrdersAfterResult:
        params = s.CancelAllOrdersAfterParams(timeout=check_cancel_after(timeout))
        (reply,) = await self._trade(
            "cancel_all_orders_after", params, ws_key=ws_key, wait_for_link=wait_for_link
        )
        result: s.CancelAllOrdersAfterResult = reply.result
        return result

    async def batch_add(
        self,
        *,
        symbol: str,
        orders: Sequence[Mapping[str, Any] | s.BatchOrder],
        deadline: Any = None,
        validate: bool | None = None,
        ws_key: WsKey = WsKey.SPOT_PRIVATE_V2,
    ) -> list[s.BatchAddResult]:
        """Place 2-15 orders on one symbol (Kraken ``batch_add``).

        Each order is a mapping of add_order's fields (without symbol). The result lists
        one element per order in request order; an element whose ``error`` is set was
        refused alone by the engine while the others were placed.

        Raises:
            InvalidRequestError, KrakenAPIError (the whole batch refused),
            RequestTimeoutError, ConnectionLostError.
        """
        params = build_batch_add(symbol, orders, deadline, validate)
        self._check_pair_limits(
            params.symbol, [(f"orders[{i}]", order) for i, order in enumerate(params.orders)]
        )
        (reply,) = await self._trade("batch_add", params, ws_key=ws_key)
        return list(reply.result or [])

    async def batch_cancel(
        self,
        *,
        orders: Sequence[str] | None = None,
        cl_ord_id: Sequence[str] | None = None,
        ws_key: WsKey = WsKey.SPOT_PRIVATE_V2,
    ) -> int:
        """Cancel 2-50 orders by id / userref (as strings) or cl_ord_id; returns the count.

        Accepts both the documented ``result.count`` and the live ``orders_cancelled``.

        Raises:
            InvalidRequestError, KrakenAPIError, RequestTimeoutError, ConnectionLostError.
        """
        params = build_batch_cancel(orders, cl_ord_id)
        (reply,) = await self._trade("batch_cancel", params, ws_key=ws_key)
        return int(reply.count or 0)

    @asynccontextmanager
    async def dead_mans_switch(
        self, timeout: int = 60, refresh_every: float = 20, *, ws_key: WsKey = WsKey.SPOT_PRIVATE_V2
    ) -> AsyncIterator[DeadMansSwitch]:
        """Keep Kraken's dead man's switch armed for the duration of the block.

        Arms ``cancel_all_orders_after(timeout)``, refreshes it every ``refresh_every``
        seconds from a task in the client's nursery, and disarms it (timeout 0) on exit.
        A refresh that fails is logged, sent as an ``exception`` lifecycle event, counted
        on the yielded object and raised when the block exits.

        Raises:
            InvalidRequestError: ``refresh_every`` not below ``timeout``.
            KrakenError: arming failed, or a refresh failed during the block.
        """
        check_cancel_after(timeout)
        if (
            isinstance(refresh_every, bool)
            or not isinstance(refresh_every, int | float)
            or refresh_every != refresh_every  # NaN
            or timeout == 0
            or not 0 < refresh_every < timeout
        ):
            raise InvalidRequestError(
                f"need 0 < refresh_every < timeout, got refresh_every={refresh_every!r}, "
                f"timeout={timeout!r}"
            )
        switch = DeadMansSwitch(timeout)
        switch.trigger_time = (
            await self.cancel_all_orders_after(timeout, ws_key=ws_key)
        ).trigger_time

        async def refresher(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
            with trio.CancelScope() as scope:
                task_status.started(scope)
                while True:
                    await trio.sleep(refresh_every)
                    try:
                        result = await self.cancel_all_orders_after(timeout, ws_key=ws_key)
                    except KrakenError as exc:
                        switch.failures.append(exc)
                        self.emit(
                            LifecycleEvent(
                                "exception",
                                WsKey(ws_key),
                                f"dead man's switch refresh failed: {exc}",
                                exc,
                            )
                        )
                    else:
                        switch.refreshes += 1
                        switch.trigger_time = result.trigger_time

        scope = await self._nursery.start(refresher)
        try:
            yield switch
        finally:
            scope.cancel()
            # Disarm: shielded (the caller may be leaving because it was cancelled) but
            # bounded by the close deadline, and without waiting for a link that is down.
            with trio.CancelScope(shield=True):
                with trio.move_on_after(self.config.close_timeout) as bounded:
                    try:
                        await self._cancel_after(0, ws_key, wait_for_link=False)
                        switch.armed = False
                    except KrakenError as exc:
                        log.error(  # noqa: TRY400 - the text says all; no traceback wanted
                            "[%s] could not disarm the dead man's switch: %s (Kraken cancels "
                            "every order at %s unless it is disarmed or refreshed)",
                            ws_key,
                            exc,
                            switch.trigger_time,
                        )
                if bounded.cancelled_caught:
                    log.error(
                        "[%s] could not disarm the dead man's switch within %ss (Kraken "
                        "cancels every order at %s unless it is disarmed or refreshed)",
                        ws_key,
                        self.config.close_timeout,
                        switch.trigger_time,
                    )
        if switch.failures:
            raise KrakenError(
                f"dead man's switch: {len(switch.failures)} refresh(es) failed; "
                f"first: {switch.failures[0]}"
            ) from switch.failures[0]
