"""The server side of a WebSocket, shared by the fake's spot and futures servers.

trio-websocket's :func:`trio_websocket.serve_websocket` owns its listeners; the fake binds its
own (plain or TLS, see ``_listen``) and serves each accepted stream itself, and it must be
able to withhold pongs (the ``stall_pongs`` fault). trio-websocket has no public API for
either, so :class:`ServerWebSocket` is what ``trio_websocket.wrap_server_stream`` builds, with
the one hook where a ping is answered overridden; this module is the only place that relies
on trio-websocket's internals (``_reader_task``, ``_get_request``, ``_handle_ping_event``).
"""

from __future__ import annotations

from collections.abc import Callable

import trio
from trio_websocket import WebSocketConnection, WebSocketRequest
from wsproto import ConnectionType, WSConnection
from wsproto.events import Ping
from wsproto.utilities import LocalProtocolError

__all__ = ["ServerWebSocket"]


class ServerWebSocket(WebSocketConnection):
    """A server WebSocket on an accepted stream, whose protocol pongs can be withheld.

    Run :meth:`read_frames` in a task for the connection's lifetime, then await
    :meth:`handshake` for the client's opening request and accept or reject it.

    Args:
        stream: The accepted stream (a socket, or TLS over one).
        stalled: While it returns True, pings are read and dropped unanswered.

    Attributes:
        last_activity: ``trio.current_time()`` of the client's last ping (for idle timeouts).
    """

    def __init__(self, stream: trio.abc.Stream, *, stalled: Callable[[], bool]) -> None:
        super().__init__(stream, WSConnection(ConnectionType.SERVER))
        self._stalled = stalled
        self.last_activity = trio.current_time()

    async def read_frames(self) -> None:
        """Read the connection until it closes (trio-websocket's reader task)."""
        await self._reader_task()

    async def handshake(self) -> WebSocketRequest:
        """The client's opening handshake, once it arrived."""
        return await self._get_request()

    async def _handle_ping_event(self, event: Ping) -> None:
        self.last_activity = trio.current_time()
        if self._stalled():
            return
        try:
            await super()._handle_ping_event(event)
        except LocalProtocolError:
            # A ping that crossed our own close frame: the connection is closing and a
            # pong may no longer be sent (wsproto refuses). Nothing to answer.
            return
