"""Listening sockets for the fake exchange's servers, plain or TLS, and hard connection resets.

Every server (spot WebSocket, futures WebSocket, REST) binds through :func:`open_listeners`,
so ``tls=True`` changes one place: the listeners are wrapped in :class:`trio.SSLListener`
and the URLs take the ``wss``/``https`` scheme.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct

import trio

__all__ = ["Listeners", "format_url", "open_listeners", "reset_stream"]

Listeners = list[trio.abc.Listener[trio.abc.Stream]]


async def open_listeners(
    host: str, port: int, ssl_context: ssl.SSLContext | None
) -> tuple[Listeners, int]:
    """Bind ``host:port`` (port 0: ephemeral); TLS when ``ssl_context`` is given.

    Returns:
        The listeners and the port they bound.
    """
    tcp = await trio.open_tcp_listeners(port, host=host)
    bound: int = tcp[0].socket.getsockname()[1]
    if ssl_context is None:
        return list(tcp), bound
    # https_compatible: a closing server does not wait for the client's close_notify.
    return [trio.SSLListener(t, ssl_context, https_compatible=True) for t in tcp], bound


def format_url(scheme: str, host: str, port: int, path: str, *, tls: bool) -> str:
    """``ws``/``http`` (``wss``/``https`` with ``tls``) URL of a bound server."""
    if tls:
        scheme += "s"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}{path}"


async def reset_stream(stream: trio.abc.Stream) -> None:
    """Close ``stream`` with a TCP RST (SO_LINGER 0), not a FIN, even under TLS.

    Under TLS the socket underneath is closed directly: a reset sends no ``close_notify``.
    """
    transport = stream
    while isinstance(transport, trio.SSLStream):
        transport = transport.transport_stream
    if isinstance(transport, trio.SocketStream):
        with contextlib.suppress(OSError):
            transport.socket.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
    with trio.CancelScope(shield=True):
        await transport.aclose()
        if transport is not stream:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.aclose()
