"""``open_kraken()``: the client's lifetime, and the boundary between the user's errors and
the library's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import fields, replace
from types import TracebackType
from typing import Any, NoReturn
from urllib.parse import urlsplit

import trio

from ._client import KrakenClient
from ._config import Config, WsKey
from ._errors import InvalidRequestError, KrakenError
from ._proto.auth import Credentials
from ._proto.channels import ws_key_of

__all__ = ["open_kraken"]

_CONFIG_FIELDS = frozenset(f.name for f in fields(Config)) - {"endpoints", "rest_url"}


@asynccontextmanager
async def _open_kraken(
    api_key: str | None = None,
    api_secret: str | None = None,
    *,
    endpoints: Mapping[WsKey, str] | Mapping[str, str] | None = None,
    rest_url: str | None = None,
    config: Config | None = None,
    **timeouts: Any,
) -> AsyncIterator[KrakenClient]:
    """The client's lifetime inside a nursery (see :func:`open_kraken`, which wraps it)."""
    if config is not None and not isinstance(config, Config):
        raise InvalidRequestError(
            f"config must be a kraken_trio.Config, got {type(config).__name__}"
        )
    if endpoints is not None and not isinstance(endpoints, Mapping):
        raise InvalidRequestError(f"endpoints must be a mapping of WsKey to URL, got {endpoints!r}")
    if rest_url is not None and (
        not isinstance(rest_url, str) or urlsplit(rest_url).scheme not in ("http", "https")
    ):
        raise InvalidRequestError(f"rest_url must be an http:// or https:// URL, got {rest_url!r}")
    for name, value in (("api_key", api_key), ("api_secret", api_secret)):
        if value is not None and not isinstance(value, str):
            raise InvalidRequestError(f"{name} must be a str, got {type(value).__name__}")
    base = config or Config()
    unknown = set(timeouts) - _CONFIG_FIELDS
    if unknown:
        raise InvalidRequestError(f"unknown open_kraken option(s): {sorted(unknown)}")
    merged = dict(base.endpoints)
    overrides: Mapping[Any, str] = endpoints or {}
    for k, url in overrides.items():
        if not isinstance(url, str):
            raise InvalidRequestError(f"endpoint URL for {k!r} must be a str, got {url!r}")
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise InvalidRequestError(
                f"endpoint for {k!r} must be a ws:// or wss:// URL, got {url!r}"
            )
        merged[ws_key_of(k)] = url
    try:
        cfg = replace(base, endpoints=merged, rest_url=rest_url or base.rest_url, **timeouts)
    except (ValueError, TypeError) as exc:
        raise InvalidRequestError(str(exc)) from None
    if (api_key is None) != (api_secret is None):
        raise InvalidRequestError("pass both api_key and api_secret, or neither")
    try:
        credentials = Credentials(api_key, api_secret) if api_key and api_secret else None
    except (ValueError, TypeError) as exc:
        raise InvalidRequestError(str(exc)) from None
    # The user's own exception (or group, or KeyboardInterrupt, or a Cancelled from an
    # outer scope) is kept out of the nursery and re-raised as it was, with any failure of
    # the library's tasks attached as its context; only the library's own failures become
    # kraken_trio errors.
    user_error: BaseException | None = None
    internal: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            client = KrakenClient(nursery, cfg, credentials)
            try:
                yield client
            except BaseException as exc:
                user_error = exc
            finally:
                await client.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        internal = _internal_failure(group)
    if user_error is not None:
        if internal is not None and user_error.__context__ is None:
            user_error.__context__ = internal
        try:
            raise user_error
        finally:
            user_error = internal = None
    if internal is not None:
        try:
            raise internal
        finally:
            internal = None


def open_kraken(
    api_key: str | None = None,
    api_secret: str | None = None,
    *,
    endpoints: Mapping[WsKey, str] | Mapping[str, str] | None = None,
    rest_url: str | None = None,
    config: Config | None = None,
    **timeouts: Any,
) -> AbstractAsyncContextManager[KrakenClient]:
    """Open a Kraken client that owns one supervised task per connection.

    Use it as ``async with open_kraken(...) as k:``. Connections open lazily on first use
    (or with :meth:`KrakenClient.connect`). Leaving the block closes every connection (close
    frames sent), ends every iterator and leaves no task behind; with nothing open it takes
    no time. Exceptions raised in the block (groups and ``KeyboardInterrupt`` included)
    leave it exactly as raised; a failure of the library's own tasks is attached as their
    ``__context__``, or raised as a kraken_trio error when the block itself did not fail.

    Args:
        api_key: Kraken API key, for private channels and trading.
        api_secret: Kraken API secret (base64). Never logged or shown in a repr.
        endpoints: Override WebSocket URLs per WsKey (tests point these at the fake).
        rest_url: Override the REST base URL used for WebSocket tokens.
        config: A whole :class:`Config`; keyword overrides apply on top of it.
        **timeouts: Any :class:`Config` field, e.g. ``ping_interval=5``.

    Raises:
        InvalidRequestError: unknown option, bad value or incomplete credentials (on entry).
        RuntimeError: not running under Trio (e.g. under ``asyncio.run``).
    """
    return _Opener(
        _open_kraken(
            api_key, api_secret, endpoints=endpoints, rest_url=rest_url, config=config, **timeouts
        )
    )


def _internal_failure(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception to raise for the failures of the library's own tasks."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        elif not isinstance(exc, trio.Cancelled):
            leaves.append(exc)

    walk(group)
    if len(leaves) == 1:
        return leaves[0]
    if not leaves:
        return None
    error = KrakenError(f"internal error: {len(leaves)} failures in kraken_trio's tasks")
    error.__cause__ = group
    return error


class _Opener(AbstractAsyncContextManager["KrakenClient"]):
    """What ``open_kraken()`` returns: use it with ``async with``; anything else gets a hint."""

    def __init__(self, cm: AbstractAsyncContextManager[KrakenClient]) -> None:
        self._cm = cm

    async def __aenter__(self) -> KrakenClient:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            raise RuntimeError(
                "kraken_trio runs under Trio: start your program with trio.run(main), not "
                "asyncio.run(main). To mix it with asyncio code, see trio-asyncio "
                "(https://trio-asyncio.readthedocs.io)."
            ) from None
        return await self._cm.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._cm.__aexit__(exc_type, exc, tb)

    def __getattr__(self, name: str) -> NoReturn:
        raise AttributeError(
            f"open_kraken() returns a context manager, not the client: write "
            f"`async with open_kraken(...) as k:` and then use k.{name}"
        )
