"""Kraken's REST reference data: the ``Assets`` and ``AssetPairs`` answers, with Kraken's names.

Kraken's REST API names things its own way, and the fake shows that pitfall rather than hide
it: bitcoin is the asset ``XXBT`` (altname ``XBT``), the US dollar ``ZUSD`` (altname ``USD``);
the pair the v2 WebSocket calls ``BTC/USD`` is keyed ``XXBTZUSD`` with altname ``XBTUSD`` and
wsname ``XBT/USD`` (the v1 WebSocket's name). Newer assets carry no prefix (``SOL``,
``SOLUSD``, ``SOL/USD``).

``AssetPairs?pair=`` accepts any of a pair's names (key, altname, wsname, or the v2 name with
or without its slash) and keys each result by the canonical key, except a name asked for with
a slash, which keys its result by that very name (clients such as python-kraken-sdk's order
book index the answer by ``BTC/USD``). ``Assets?asset=`` accepts an asset's key or altname and
always answers by key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._pairs import PairSpec

__all__ = ["AssetInfo", "ReferenceData", "asset_info", "rest_names"]


@dataclass(frozen=True, slots=True)
class AssetInfo:
    """One asset as Kraken's REST ``Assets`` describes it.

    Attributes:
        key: The REST id (``XXBT``, ``ZUSD``, ``SOL``).
        altname: The short REST name (``XBT``, ``USD``, ``SOL``).
        decimals: Decimal places Kraken keeps for balances.
        display_decimals: Decimal places Kraken shows.
        collateral_value: Its weight as margin collateral.
    """

    key: str
    altname: str
    decimals: int
    display_decimals: int
    collateral_value: float


# v2 asset id -> Kraken's REST description (the assets the default pairs use, and a few more).
_KNOWN_ASSETS = {
    "BTC": AssetInfo("XXBT", "XBT", 10, 5, 1.0),
    "ETH": AssetInfo("XETH", "ETH", 10, 5, 1.0),
    "USD": AssetInfo("ZUSD", "USD", 4, 2, 1.0),
    "EUR": AssetInfo("ZEUR", "EUR", 4, 2, 1.0),
    "GBP": AssetInfo("ZGBP", "GBP", 4, 2, 1.0),
    "LTC": AssetInfo("XLTC", "LTC", 10, 5, 0.75),
    "XRP": AssetInfo("XXRP", "XRP", 8, 5, 0.75),
    "DOGE": AssetInfo("XXDG", "XDG", 8, 2, 0.5),
    "SOL": AssetInfo("SOL", "SOL", 10, 5, 0.85),
    "SHIB": AssetInfo("SHIB", "SHIB", 5, 5, 0.0),
    "USDT": AssetInfo("USDT", "USDT", 8, 4, 1.0),
    "USDC": AssetInfo("USDC", "USDC", 8, 4, 1.0),
}

# Kraken's base fee schedules (30-day volume in USD, percent); the fake charges no fees.
_TAKER_FEES = [[0, 0.4], [10000, 0.35], [50000, 0.24], [100000, 0.22], [250000, 0.2]]
_MAKER_FEES = [[0, 0.25], [10000, 0.2], [50000, 0.14], [100000, 0.12], [250000, 0.1]]


def asset_info(asset: str) -> AssetInfo:
    """Kraken's REST description of the v2 asset id ``asset`` (unknown ones keep their id)."""
    known = _KNOWN_ASSETS.get(asset)
    if known is not None:
        return known
    return AssetInfo(asset, asset, 10, 5, 0.0)


def _legacy(info: AssetInfo) -> bool:
    """An X/Z-prefixed asset (``XXBT``, ``ZUSD``): pairs of two such join their keys."""
    return info.key != info.altname


def rest_names(spec: PairSpec) -> tuple[str, str, str]:
    """Kraken's REST key, altname and wsname of a pair (``XXBTZUSD``, ``XBTUSD``, ``XBT/USD``)."""
    base, quote = asset_info(spec.base), asset_info(spec.quote)
    altname = base.altname + quote.altname
    key = base.key + quote.key if _legacy(base) and _legacy(quote) else altname
    return key, altname, f"{base.altname}/{quote.altname}"


@dataclass(frozen=True, slots=True)
class _Pair:
    key: str
    altname: str
    wsname: str
    spec: PairSpec


class ReferenceData:
    """The ``Assets`` and ``AssetPairs`` answers for a pair table.

    Args:
        pairs: The pairs the fake trades.
    """

    def __init__(self, pairs: Sequence[PairSpec]) -> None:
        self._pairs: list[_Pair] = []
        self._assets: dict[str, AssetInfo] = {}
        for spec in pairs:
            self._pairs.append(_Pair(*rest_names(spec), spec))
            for asset in (asset_info(spec.base), asset_info(spec.quote)):
                self._assets.setdefault(asset.key, asset)
        self._by_name: dict[str, _Pair] = {}
        for pair in self._pairs:
            v2 = pair.spec.symbol
            for name in (pair.key, pair.altname, pair.wsname, v2, v2.replace("/", "")):
                self._by_name.setdefault(name, pair)

    def __repr__(self) -> str:
        return f"ReferenceData({[p.key for p in self._pairs]})"

    def pair_key(self, symbol: str) -> str | None:
        """The REST key (``XXBTZUSD``) of the pair named ``symbol`` in any of its forms."""
        pair = self._by_name.get(symbol)
        return pair.key if pair is not None else None

    def asset_pairs(self, wanted: str) -> dict[str, Any]:
        """The ``AssetPairs`` answer for a ``pair`` parameter (empty: every pair)."""
        names = [n for n in wanted.split(",") if n]
        if not names:
            return {"error": [], "result": {p.key: self._pair_info(p) for p in self._pairs}}
        result: dict[str, Any] = {}
        for name in names:
            pair = self._by_name.get(name)
            if pair is None:
                return {"error": ["EQuery:Unknown asset pair"], "result": {}}
            result[name if "/" in name else pair.key] = self._pair_info(pair)
        return {"error": [], "result": result}

    def assets(self, wanted: str, aclass: str = "") -> dict[str, Any]:
        """The ``Assets`` answer for an ``asset`` parameter (empty: every asset)."""
        if aclass not in ("", "currency"):
            return {"error": ["EGeneral:Invalid arguments:aclass"], "result": {}}
        names = [n for n in wanted.split(",") if n]
        chosen: list[AssetInfo] = []
        for name in names:
            found = next(
                (a for a in self._assets.values() if name in (a.key, a.altname)),
                None,
            )
            if found is None:
                return {"error": ["EQuery:Unknown asset"], "result": {}}
            chosen.append(found)
        if not names:
            chosen = list(self._assets.values())
        return {"error": [], "result": {a.key: _asset_entry(a) for a in chosen}}

    def _pair_info(self, pair: _Pair) -> dict[str, Any]:
        spec = pair.spec
        quote = asset_info(spec.quote)
        return {
            "altname": pair.altname,
            "wsname": pair.wsname,
            "aclass_base": "currency",
            "base": asset_info(spec.base).key,
            "aclass_quote": "currency",
            "quote": quote.key,
            "lot": "unit",
            "cost_decimals": spec.cost_precision,
            "pair_decimals": spec.price_precision,
            "lot_decimals": spec.qty_precision,
            "lot_multiplier": 1,
            "leverage_buy": [],
            "leverage_sell": [],
            "fees": _TAKER_FEES,
            "fees_maker": _MAKER_FEES,
            "fee_volume_currency": "ZUSD",
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": format(spec.qty_min, "f"),
            "costmin": format(spec.cost_min, "f"),
            "tick_size": format(spec.price_increment, "f"),
            "status": "online",
        }


def _asset_entry(info: AssetInfo) -> dict[str, Any]:
    return {
        "aclass": "currency",
        "altname": info.altname,
        "decimals": info.decimals,
        "display_decimals": info.display_decimals,
        "collateral_value": info.collateral_value,
        "status": "enabled",
    }
