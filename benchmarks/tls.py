"""TLS for the replay server: a throwaway CA, and a server link that two threads can share.

The benchmark parent makes a CA with ``trustme`` (:func:`make_ca`) and hands the replay
server its certificate files; the peers trust the CA through ``SSL_CERT_FILE``, which the
default context of every client here (``ssl.create_default_context()`` in kraken_trio and
in websockets, used by python-kraken-sdk) reads, so no client setting changes for TLS.

The replay server reads a connection in one thread and streams into it from another. An
OpenSSL connection object must not be used by two threads at once, so :class:`TlsLink`
runs TLS over memory buffers: every call into the TLS object holds one lock, and the
ciphertext goes to the socket under a second lock that keeps records in order.
"""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path


def make_ca(directory: Path) -> dict[str, str]:
    """Write a fresh CA and a server certificate for 127.0.0.1 into ``directory``.

    Returns the paths: ``ca`` (what clients trust), ``cert`` (server key and chain).
    """
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": str(directory / "ca.pem"), "cert": str(directory / "server.pem")}
    ca.cert_pem.write_to_path(paths["ca"])
    server.private_key_and_cert_chain_pem.write_to_path(paths["cert"])
    return paths


def server_context(cert_path: str) -> ssl.SSLContext:
    """The server side's context (TLS 1.2+, the one certificate)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path)
    return context


def starts_tls(sock: socket.socket) -> bool:
    """True if the client's first byte is a TLS handshake record (peeked, not consumed)."""
    return sock.recv(1, socket.MSG_PEEK) == b"\x16"


class Link:
    """A plain accepted socket: what the replay server reads from and writes to."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def recv(self) -> bytes:
        return self.sock.recv(65536)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)


class TlsLink(Link):
    """The same over TLS; :meth:`recv` and :meth:`sendall` may run in different threads."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        super().__init__(sock)
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.state_lock = threading.Lock()  # one thread at a time inside OpenSSL
        self.send_lock = threading.Lock()  # ciphertext leaves in the order it was made
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                if not self._feed():
                    raise ConnectionError("client left during the TLS handshake") from None
        self._flush()

    def _feed(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        with self.state_lock:
            self.incoming.write(data)
        return True

    def _flush(self) -> None:
        with self.send_lock:
            with self.state_lock:
                out = self.outgoing.read()
            if out:
                self.sock.sendall(out)

    def recv(self) -> bytes:
        while True:
            with self.state_lock:
                try:
                    data = self.tls.read(65536)
                except ssl.SSLWantReadError:
                    data = None
                except ssl.SSLZeroReturnError:
                    return b""
                pending = self.outgoing.pending
            if pending:  # e.g. a key update the client asked for
                self._flush()
            if data:
                return data
            if not self._feed():
                return b""

    def sendall(self, data: bytes) -> None:
        with self.send_lock:
            with self.state_lock:
                self.tls.write(data)
                out = self.outgoing.read()
            self.sock.sendall(out)
