"""What-if experiments: the hot-path fixes suggested in docs/benchmarks.md, as monkeypatches.

These patches are applied ONLY inside a benchmark peer process when its spec lists them
(``"whatif": ["checksum"]``), to measure what a proposed library change would buy
before anyone edits the library. They reach into private attributes of the library as it
was when written; if the library changed, a patch refuses to apply (``RuntimeError``)
rather than measuring something else.

The ``anext``, ``frames``, ``mask`` and ``leandirect`` experiments measured here first are
now in the library (``Subscription.__anext__``, ``WebSocket._parse``,
``_client_text_frame``, ``Connection.send_nowait`` and ``Connection.request``), so their
patches are gone; the rows that remain measure what is still only a proposal.

* ``checksum``: per-side cached checksum text with chained CRCs (:func:`patch_checksum`).
* ``nogc``: the garbage collector off, an upper bound for ``gc=False`` message structs.
"""

from __future__ import annotations

from typing import Any


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
    "checksum": patch_checksum,
}


def apply(names: list[str]) -> None:
    """Apply the named what-if patches in this process."""
    for name in names:
        PATCHES[name]()
