"""TLS for the fake exchange: a throwaway certificate authority and the listeners it signs.

``open_fake_kraken(tls=True)`` makes one :class:`FakeCA` per run. Its certificate is written
to a PEM file (:attr:`FakeCA.ca_file`) so that a client in another process can trust it
(``SSL_CERT_FILE=...`` for most OpenSSL-based clients); :meth:`FakeCA.client_context` gives
an :class:`ssl.SSLContext` that trusts it for clients in this process.

The certificates come from ``trustme``, installed with ``pip install kraken-trio[testing]``.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from collections.abc import Iterable

__all__ = ["FakeCA"]

#: The names every leaf certificate covers: the loopback addresses and ``localhost``.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


class FakeCA:
    """A certificate authority that exists for one run of the fake exchange.

    Args:
        hosts: Extra names or IP addresses the server certificate covers (besides
            :data:`LOOPBACK_NAMES`), e.g. the interface the fake binds.

    Raises:
        RuntimeError: If ``trustme`` is not installed (it names the extra to install).
    """

    def __init__(self, hosts: Iterable[str] = ()) -> None:
        try:
            import trustme
        except ImportError as exc:
            raise RuntimeError(
                "the fake exchange's TLS needs the 'trustme' package: "
                "pip install 'kraken-trio[testing]'"
            ) from exc
        names = list(LOOPBACK_NAMES)
        names += [h for h in hosts if h and h not in names and h not in ("0.0.0.0", "::")]
        self._ca = trustme.CA(organization_name="kraken-trio fake exchange")
        self._leaf = self._ca.issue_cert(*names)
        self._dir = tempfile.mkdtemp(prefix="kraken-trio-fake-ca-")
        self.ca_file = os.path.join(self._dir, "ca.pem")
        """Path of the CA certificate (PEM); removed by :meth:`close`."""
        self._ca.cert_pem.write_to_path(self.ca_file)

    def __repr__(self) -> str:
        return f"FakeCA(ca_file={self.ca_file!r})"

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting the loopback certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client-side context that trusts this CA (and verifies host names)."""
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        return context

    def close(self) -> None:
        """Remove the PEM file and its directory."""
        shutil.rmtree(self._dir, ignore_errors=True)
