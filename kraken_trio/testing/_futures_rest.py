"""Kraken's Futures REST API (``/derivatives/api/v3/...``) for the fake exchange, pure.

:class:`FuturesRest` answers one request (method, target, headers, body) with an HTTP status and
the JSON text; the fake's REST server hands it every path under ``/derivatives/``. Public:
``GET instruments``, ``GET tickers``. Private, signed with ``APIKey`` and ``Authent``
(:func:`kraken_trio._proto.auth.sign_futures_rest` over the arguments, the optional ``Nonce``
header and the path without ``/derivatives``): ``POST sendorder``, ``editorder``,
``cancelorder``, ``cancelallorders``; ``GET openorders``, ``openpositions``, ``accounts``,
``fills``. Arguments come url-encoded in the query string or the body (the signature covers
whichever was sent). A ``Nonce``, when sent, must grow (Kraken: ``nonceBelowThreshold``; a repeat
is ``nonceDuplicate``).

Answers have Kraken's shapes: ``{"result":"success", ..., "serverTime":"...Z"}``; failures
``{"result":"error","error":"authenticationError"|"invalidArgument: <name>"|...,
"serverTime":...}`` with HTTP 200 for Kraken's own errors (a guess: Kraken's pages show bodies,
not statuses), 404 with ``{"result":"error","error":"Not Found"}`` for an unknown path.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import parse_qs

from .._proto.auth import sign_futures_rest
from ._futures_common import encode, iso_ms, now_ms
from ._futures_market import ProductMarket
from ._futures_positions import INITIAL_MARGIN_RATE, MAINTENANCE_MARGIN_RATE
from ._futures_trading import OrderResult, Trader

__all__ = ["API_PREFIX", "FuturesRest"]

API_PREFIX: Final = "/derivatives/api/v3/"
_PUBLIC: Final = frozenset({"instruments", "tickers"})
_LARGEST: Final = Decimal("1e15")
"""Sizes and prices at or above this are refused as invalid arguments (no product comes near)."""
_TRIGGER_SIGNALS: Final = frozenset({"mark", "index", "last", "spot"})


class _BadArgument(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class FuturesRest:
    """The Futures REST endpoints over one market and one account.

    Args:
        markets: The listed products' markets.
        trader: Order entry for the account.
        api_key: The key private calls must carry.
        api_secret: Its base64 secret.
    """

    def __init__(
        self,
        markets: dict[str, ProductMarket],
        trader: Trader,
        *,
        api_key: str,
        api_secret: str,
    ) -> None:
        self._markets = markets
        self._trader = trader
        self._api_key = api_key
        self._api_secret = api_secret
        self._last_nonce = -1
        self._private: dict[tuple[str, str], Callable[[dict[str, str]], dict[str, Any]]] = {
            ("POST", "sendorder"): self._send_order,
            ("POST", "editorder"): self._edit_order,
            ("POST", "cancelorder"): self._cancel_order,
            ("POST", "cancelallorders"): self._cancel_all,
            ("GET", "openorders"): self._open_orders,
            ("GET", "openpositions"): self._open_positions,
            ("GET", "accounts"): self._accounts,
            ("GET", "fills"): self._fills,
        }

    def __repr__(self) -> str:
        return f"FuturesRest(products={list(self._markets)})"

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: str
    ) -> tuple[int, str]:
        """Answer one request.

        Args:
            method: ``GET`` or ``POST``.
            target: The request target (path and query string).
            headers: Header names in lower case.
            body: The request body (url-encoded arguments, or empty).

        Returns:
            The HTTP status and the JSON text.
        """
        path, _, query = target.partition("?")
        if not path.startswith(API_PREFIX):
            return 404, encode({"result": "error", "error": "Not Found"})
        name = path[len(API_PREFIX) :]
        post_data = body or query
        args = {k: v[-1] for k, v in parse_qs(post_data, keep_blank_values=True).items()}
        if name in _PUBLIC and method == "GET":
            payload = self._instruments() if name == "instruments" else self._tickers()
            return 200, self._success(payload)
        handler = self._private.get((method, name))
        if handler is None:
            return 404, encode({"result": "error", "error": "Not Found"})
        failure = self._authenticate(path, headers, post_data)
        if failure is not None:
            return 200, self._error(failure)
        try:
            return 200, self._success(handler(args))
        except _BadArgument as exc:
            return 200, self._error(f"invalidArgument: {exc.name}")

    # -- plumbing ----------------------------------------------------------------------

    @staticmethod
    def _success(payload: dict[str, Any]) -> str:
        return encode({"result": "success", **payload, "serverTime": iso_ms(now_ms())})

    @staticmethod
    def _error(error: str) -> str:
        return encode({"result": "error", "error": error, "serverTime": iso_ms(now_ms())})

    def _authenticate(self, path: str, headers: dict[str, str], post_data: str) -> str | None:
        key = headers.get("apikey", "")
        authent = headers.get("authent", "")
        nonce = headers.get("nonce", "")
        if not hmac.compare_digest(key.encode(), self._api_key.encode()):
            return "authenticationError"
        endpoint = path.removeprefix("/derivatives")
        expected = sign_futures_rest(self._api_secret, post_data, nonce, endpoint)
        if not hmac.compare_digest(authent.encode(), expected.encode()):
            return "authenticationError"
        if nonce:
            if not nonce.isdigit():
                return "authenticationError"
            if int(nonce) == self._last_nonce:
                return "nonceDuplicate"
            if int(nonce) < self._last_nonce:
                return "nonceBelowThreshold"
            self._last_nonce = int(nonce)
        return None

    @staticmethod
    def _decimal(args: dict[str, str], name: str, *, required: bool = False) -> Decimal | None:
        text = args.get(name)
        if text is None or text == "":
            if required:
                raise _BadArgument(name)
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise _BadArgument(name) from None
        if not value.is_finite() or abs(value) >= _LARGEST:
            raise _BadArgument(name)
        return value

    # -- public ------------------------------------------------------------------------

    def _instruments(self) -> dict[str, Any]:
        instruments = []
        for product_id, market in self._markets.items():
            spec = market.spec
            kind = "futures_inverse" if spec.inverse else "flexible_futures"
            step = spec.qty_step.normalize()
            exponent = step.as_tuple().exponent
            places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
            entry: dict[str, Any] = {
                "symbol": product_id,
                "type": kind,
                "underlying": f"rr_{spec.base.lower()}{spec.quote.lower()}",
                "tickSize": spec.tick_size,
                "contractSize": 1,
                "tradeable": True,
                "impactMidSize": 1,
                "maxPositionSize": 1000000,
                "openingDate": "2022-01-01T00:00:00.000Z",
                "marginLevels": [
                    {
                        "contracts" if spec.inverse else "numNonContractUnits": 0,
                        "initialMargin": INITIAL_MARGIN_RATE,
                        "maintenanceMargin": MAINTENANCE_MARGIN_RATE,
                    }
                ],
                "fundingRateCoefficient": 8 if spec.is_perpetual else None,
                "maxRelativeFundingRate": Decimal("0.001") if spec.is_perpetual else None,
                "isin": None,
                "contractValueTradePrecision": places,
                "postOnly": False,
                "feeScheduleUid": "eef90775-995b-4596-9257-0917f6134766",
                "mtf": False,
                "base": spec.base,
                "quote": spec.quote,
                "pair": f"{spec.base}:{spec.quote}",
                "category": "",
                "tags": [],
                "tradfi": False,
            }
            if not spec.is_perpetual:
                entry["lastTradingTime"] = iso_ms(spec.maturity_time)
            instruments.append({k: v for k, v in entry.items() if v is not None})
        return {"instruments": instruments}

    def _tickers(self) -> dict[str, Any]:
        tickers = []
        for product_id, market in self._markets.items():
            spec = market.spec
            ticker: dict[str, Any] = {
                "symbol": product_id,
                "last": market.last,
                "lastTime": iso_ms(market.last_time),
                "tag": spec.tag,
                "pair": spec.pair,
                "markPrice": market.mark_price(),
                "bid": market.best_bid(),
                "bidSize": market.bids[market.best_bid()],
                "ask": market.best_ask(),
                "askSize": market.asks[market.best_ask()],
                "vol24h": market.volume,
                "volumeQuote": market.volume if spec.inverse else market.volume * market.last,
                "openInterest": market.open_interest,
                "open24h": market.open,
                "high24h": market.high,
                "low24h": market.low,
                "lastSize": market.last_qty,
                "suspended": False,
                "indexPrice": market.index_price(),
                "postOnly": False,
                "change24h": (market.last - market.open) / market.open * 100,
            }
            if spec.is_perpetual:
                ticker["fundingRate"] = Decimal(repr(market.funding_rate))
                ticker["fundingRatePrediction"] = Decimal(repr(market.funding_rate_prediction))
            tickers.append(ticker)
        return {"tickers": tickers}

    # -- private -----------------------------------------------------------------------

    def _symbol(self, args: dict[str, str]) -> str:
        symbol = args.get("symbol", "").upper()
        if symbol not in self._markets:
            raise _BadArgument("symbol")
        return symbol

    def _send_order(self, args: dict[str, str]) -> dict[str, Any]:
        symbol = self._symbol(args)
        side = args.get("side", "")
        order_type = args.get("orderType", "")
        if side not in ("buy", "sell"):
            raise _BadArgument("side")
        if order_type not in ("lmt", "post", "ioc", "mkt", "stp", "take_profit"):
            raise _BadArgument("orderType")
        size = self._decimal(args, "size", required=True)
        assert size is not None
        trigger_signal = args.get("triggerSignal", "last")
        if trigger_signal not in _TRIGGER_SIGNALS:
            raise _BadArgument("triggerSignal")
        result = self._trader.send_order(
            symbol=symbol,
            side=side,
            size=size,
            order_type=order_type,
            limit_price=self._decimal(args, "limitPrice"),
            stop_price=self._decimal(args, "stopPrice"),
            reduce_only=args.get("reduceOnly", "false").lower() == "true",
            cli_ord_id=args.get("cliOrdId") or None,
            trigger_signal=trigger_signal,
        )
        return {"sendStatus": self._status(result, cli_ord_id=args.get("cliOrdId"))}

    def _status(self, result: OrderResult, *, cli_ord_id: str | None = None) -> dict[str, Any]:
        status: dict[str, Any] = {"status": result.status, "receivedTime": iso_ms(now_ms())}
        if result.order_id is not None:
            status["order_id"] = result.order_id
        if cli_ord_id:
            status["cliOrdId"] = cli_ord_id
        status["orderEvents"] = result.events
        return status

    def _edit_order(self, args: dict[str, str]) -> dict[str, Any]:
        order_id, cli_ord_id = args.get("orderId"), args.get("cliOrdId")
        if not order_id and not cli_ord_id:
            raise _BadArgument("orderId")
        result = self._trader.edit_order(
            order_id=order_id or None,
            cli_ord_id=cli_ord_id or None,
            size=self._decimal(args, "size"),
            limit_price=self._decimal(args, "limitPrice"),
            stop_price=self._decimal(args, "stopPrice"),
        )
        status = self._status(result)
        if "order_id" in status:
            status["orderId"] = status.pop("order_id")
        return {"editStatus": status}

    def _cancel_order(self, args: dict[str, str]) -> dict[str, Any]:
        order_id, cli_ord_id = args.get("order_id"), args.get("cliOrdId")
        if not order_id and not cli_ord_id:
            raise _BadArgument("order_id")
        result = self._trader.cancel_order(order_id=order_id or None, cli_ord_id=cli_ord_id or None)
        return {"cancelStatus": self._status(result, cli_ord_id=cli_ord_id)}

    def _cancel_all(self, args: dict[str, str]) -> dict[str, Any]:
        symbol = self._symbol(args) if args.get("symbol") else None
        cancelled = self._trader.cancel_all(symbol)
        return {
            "cancelStatus": {
                "receivedTime": iso_ms(now_ms()),
                "cancelOnly": symbol.lower() if symbol else "all",
                "status": "cancelled" if cancelled else "noOrdersToCancel",
                "cancelledOrders": [
                    {"order_id": o.order_id, **({"cliOrdId": o.cli_ord_id} if o.cli_ord_id else {})}
                    for o in cancelled
                ],
                "orderEvents": [
                    {"uid": o.order_id, "order": o.to_rest(), "type": "CANCEL"} for o in cancelled
                ],
            }
        }

    def _open_orders(self, args: dict[str, str]) -> dict[str, Any]:
        orders = self._trader.account.orders.values()
        return {"openOrders": [o.to_open_order() for o in orders]}

    def _open_positions(self, args: dict[str, str]) -> dict[str, Any]:
        account = self._trader.account
        positions = []
        for symbol, position in account.positions.items():
            spec = self._trader.venue.spec(symbol)
            positions.append(
                {
                    "side": "long" if position.size > 0 else "short",
                    "symbol": symbol,
                    "price": position.entry,
                    "fillTime": iso_ms(position.opened),
                    "size": abs(position.size),
                    "unrealizedFunding": Decimal("0.0"),
                    "pnlCurrency": spec.base if spec.inverse else spec.quote,
                }
            )
        return {"openPositions": positions}

    def _accounts(self, args: dict[str, str]) -> dict[str, Any]:
        account = self._trader.account
        wallets = account.wallets
        accounts: dict[str, Any] = {
            "cash": {
                "type": "cashAccount",
                "balances": {c.lower(): q for c, q in wallets.holding.items()},
            }
        }
        for name in sorted(wallets.single):
            entry = wallets.single_entry(name, account.ledger.exposure(name))
            unit = entry["unit"].lower()
            accounts[f"fi_{unit}{name.split(':')[1].lower()}"] = {
                "type": "marginAccount",
                "currency": unit,
                "balances": {unit: entry["balance"]},
                "auxiliary": {
                    "usd": entry["cash_value"],
                    "pv": entry["portfolio_value"],
                    "pnl": entry["pnl"],
                    "af": entry["available"],
                    "funding": Decimal("0.0"),
                },
                "marginRequirements": {
                    "im": entry["initial_margin"],
                    "mm": entry["maintenance_margin"],
                    "lt": entry["maintenance_margin"],
                    "tt": entry["maintenance_margin"],
                },
                "triggerEstimates": {"im": 0, "mm": 0, "lt": 0, "tt": 0},
            }
        flex = wallets.flex_structure(account.ledger.exposure("flex"))
        accounts["flex"] = {
            "type": "multiCollateralMarginAccount",
            "currencies": {
                ccy: {
                    "quantity": c["quantity"],
                    "value": c["value"],
                    "collateral": c["collateral_value"],
                    "available": c["available"],
                }
                for ccy, c in flex["currencies"].items()
            },
            "initialMargin": flex["initial_margin_without_orders"],
            "initialMarginWithOrders": flex["initial_margin"],
            "maintenanceMargin": flex["maintenance_margin"],
            "balanceValue": flex["balance_value"],
            "portfolioValue": flex["portfolio_value"],
            "collateralValue": flex["collateral_value"],
            "pnl": flex["pnl"],
            "unrealizedFunding": flex["unrealized_funding"],
            "totalUnrealized": flex["total_unrealized"],
            "totalUnrealizedAsMargin": flex["total_unrealized_as_margin"],
            "availableMargin": flex["available_margin"],
            "marginEquity": flex["margin_equity"],
        }
        return {"accounts": accounts}

    def _fills(self, args: dict[str, str]) -> dict[str, Any]:
        fills = []
        for fill in reversed(self._trader.account.fills):
            entry: dict[str, Any] = {
                "fill_id": fill["fill_id"],
                "symbol": fill["instrument"],
                "side": "buy" if fill["buy"] else "sell",
                "order_id": fill["order_id"],
                "size": fill["qty"],
                "price": fill["price"],
                "fillTime": iso_ms(int(fill["time"])),
                "fillType": fill["fill_type"],
            }
            if "cli_ord_id" in fill:
                entry["cliOrdId"] = fill["cli_ord_id"]
            fills.append(entry)
        return {"fills": fills[:100]}
