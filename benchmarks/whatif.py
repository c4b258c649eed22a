"""What-if experiments: the hot-path fixes suggested in docs/benchmarks.md, as monkeypatches.

These patches are applied ONLY inside a benchmark peer process when its spec lists them
(``"whatif": ["checksum"]``), to measure what a proposed library change would buy
before anyone edits the library. They reach into private attributes of the library as it
was when written; if the library changed, a patch refuses to apply (``RuntimeError``)
rather than measuring something else.

The ``anext``, ``frames`` and ``mask`` experiments measured here first are now in the
library (``Subscription.__anext__``, ``WebSocket._parse``, ``_client_text_frame``), so
their patches are gone; the rows that remain measure what is still only a proposal.

* ``directsend``, ``lean``, ``leandirect``: the order path (see :func:`_patch_request`).
* ``checksum``: per-side cached checksum text with chained CRCs (:func:`patch_checksum`).
* ``nogc``: the garbage collector off, an upper bound for ``gc=False`` message structs.
"""

from __future__ import annotations

import os
from typing import Any

import trio

_YIELD_EVERY = int(os.environ.get("WHATIF_YIELD_EVERY", "1024"))


def _patch_request(*, direct: bool, lean: bool) -> None:
    """Replace ``Connection.request`` (and the writer) with a variant.

    ``direct``: the requester writes its frame itself when the writer is idle (no hop to
    the writer task); the write is shielded, so a cancelled caller still cannot leave half
    a frame on the wire, and the writer waits while a direct write is in progress.
    ``lean``: no ``wait_ready()`` checkpoint when the link is already up, and a bare
    ``CancelScope(deadline=...)`` instead of the contextlib-based ``fail_after``.
    """
    from kraken_trio import _connection as c
    from kraken_trio._errors import KrakenAPIError, RequestTimeoutError
    from kraken_trio._proto import spot
    from kraken_trio._proto.codec import encode_request

    cls: Any = c.Connection
    import inspect

    expected_params = ["self", "method", "params", "expected", "cl_ord_id"]
    if list(inspect.signature(cls.request).parameters) != expected_params:
        raise RuntimeError(
            "Connection.request's signature changed: the request what-ifs no longer apply"
        )

    def _send_lock(conn: Any) -> trio.Lock:
        lock: trio.Lock | None = getattr(conn, "_whatif_lock", None)
        if lock is None:
            lock = conn._whatif_lock = trio.Lock()
        return lock

    if "_send_ch" not in cls.request.__code__.co_names:
        raise RuntimeError("Connection.request changed: the request what-ifs no longer apply")

    async def _writer(self: Any, ws: Any, recv: Any) -> None:
        async for item in recv:
            parts = [self._encode_out(ws, item)]
            while True:
                try:
                    parts.append(self._encode_out(ws, recv.receive_nowait()))
                except trio.WouldBlock:
                    break
            async with _send_lock(self):
                await ws.send_raw(b"".join(parts))

    async def request(
        self: Any,
        method: str,
        params: Any,
        *,
        expected: int = 1,
        cl_ord_id: str | None = None,
    ) -> list[Any]:
        call: Any = None
        try:
            with trio.CancelScope(
                deadline=trio.current_time() + self._cfg.request_timeout
            ) as scope:
                while True:
                    if not (
                        lean and self._ready.is_set() and self._fatal is None and not self._closing
                    ):
                        await self.wait_ready()
                    send = self._send_ch
                    ws = self._ws
                    if send is None or ws is None:
                        await trio.lowlevel.checkpoint()
                        continue
                    if hasattr(params, "token"):
                        params.token = self._token
                    call = self._broker.allocate(method, expected=expected, cl_ord_id=cl_ord_id)
                    frame = encode_request(
                        spot.Request(method=method, params=params, req_id=call.req_id)
                    )
                    lock = _send_lock(self)
                    idle = (
                        direct and not lock.locked() and send.statistics().current_buffer_used == 0
                    )
                    if idle:
                        lock.acquire_nowait()
                        try:
                            with trio.CancelScope(shield=True):
                                await ws.send_raw(ws.encode_text(frame))
                        finally:
                            lock.release()
                    else:
                        try:
                            send.send_nowait(frame)
                        except (trio.ClosedResourceError, trio.BrokenResourceError):
                            self._broker.discard(call)
                            call = None
                            continue
                    call.sent = True
                    await call.done.wait()
                    break
            if scope.cancelled_caught:
                raise trio.TooSlowError
        except trio.TooSlowError:
            raise RequestTimeoutError(
                method,
                call.req_id if call is not None else None,
                cl_ord_id,
                sent=call is not None and call.sent,
            ) from None
        finally:
            if call is not None and not call.done.is_set():
                self._broker.discard(call)
        if call.error is not None:
            raise call.error
        failed = [r for r in call.replies if not r.success]
        if failed:
            text = "; ".join(dict.fromkeys(r.error or "unknown error" for r in failed))
            raise KrakenAPIError(text, method, call.req_id)
        return call.replies  # type: ignore[no-any-return]

    if direct:
        cls._writer = _writer
    cls.request = request


def patch_directsend() -> None:
    """See :func:`_patch_request` (``direct``)."""
    _patch_request(direct=True, lean=False)


def patch_lean() -> None:
    """See :func:`_patch_request` (``lean``)."""
    _patch_request(direct=False, lean=True)


def patch_leandirect() -> None:
    """See :func:`_patch_request` (both)."""
    _patch_request(direct=True, lean=True)


def patch_checksum() -> None:
    """L2Book checksum from per-side cached text, re-rendered only when that side's top ten
    changed, with chained CRCs (``crc32(bids, crc32(asks))`` equals the CRC of the joined
    text). ``_Side.set`` is replaced whole (not wrapped), with the "inside the top ten?"
    test inline, to measure what the change would cost inside the library.
    """
    from bisect import bisect_left, insort
    from zlib import crc32

    from kraken_trio._proto import book as b

    side_cls: Any = b._Side
    book_cls: Any = b.L2Book
    needed = {"_asks", "_bids", "_checksum", "_price_spec", "_qty_spec"}
    names = set(book_cls.checksum.__code__.co_names) | set(book_cls.__init__.__code__.co_names)
    set_names = set(side_cls.set.__code__.co_names)
    if (
        not needed <= names
        or not {"qty", "prices", "digits"} <= set_names
        or not hasattr(side_cls, "checksum_parts")
    ):
        raise RuntimeError("L2Book changed: the checksum what-if no longer applies")
    top = b.CHECKSUM_LEVELS
    # _Side has __slots__: keep the per-side state in dicts keyed by id(side).
    dirty: dict[int, bool] = {}
    texts: dict[int, bytes] = {}
    original_truncate = side_cls.truncate
    original_clear = side_cls.clear

    def set_(self: Any, price: Any, qty: Any) -> None:
        book_qty = self.qty
        prices = self.prices
        n = len(prices)
        if n < top or (price >= prices[n - top] if self.descending else price <= prices[top - 1]):
            dirty[id(self)] = True
        if qty:
            if price in book_qty:
                book_qty[price] = qty
                self.digits.pop(price, None)
            else:
                book_qty[price] = qty
                insort(prices, price)
        elif book_qty.pop(price, None) is not None:
            del prices[bisect_left(prices, price)]
            self.digits.pop(price, None)

    def truncate(self: Any, depth: int) -> None:
        if depth < top and len(self.prices) > depth:
            dirty[id(self)] = True
        original_truncate(self, depth)

    def clear(self: Any) -> None:
        dirty[id(self)] = True
        original_clear(self)

    def checksum(self: Any) -> int:
        cached = self._checksum
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        crc = 0
        for side in (self._asks, self._bids):
            key = id(side)
            text = texts.get(key)
            if text is None or dirty.get(key, True):
                parts: list[str] = []
                side.checksum_parts(self._price_spec, self._qty_spec, parts)
                text = texts[key] = "".join(parts).encode("ascii")
                dirty[key] = False
            crc = crc32(text, crc)
        self._checksum = crc
        return crc

    side_cls.set = set_
    side_cls.truncate = truncate
    side_cls.clear = clear
    book_cls.checksum = checksum


def patch_nogc() -> None:
    """Upper bound of making message structs untracked by the GC (msgspec ``gc=False``)."""
    import gc

    gc.disable()


PATCHES = {
    "nogc": patch_nogc,
    "directsend": patch_directsend,
    "lean": patch_lean,
    "leandirect": patch_leandirect,
    "checksum": patch_checksum,
}


def apply(names: list[str]) -> None:
    """Apply the named what-if patches in this process."""
    for name in names:
        PATCHES[name]()
