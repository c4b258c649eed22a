"""Benchmarks of kraken_trio side by side with python-kraken-sdk and ccxt.pro.

``python -m benchmarks`` (or ``nox -s bench``) runs every scenario against a replay server
in its own process and writes ``docs/benchmarks.md``; ``--quick`` is a smoke run.

Layout:

* :mod:`benchmarks.streams` builds realistic Kraken Spot v2 messages (book updates with
  valid checksums, tickers, trades) and pre-encodes them as WebSocket frames.
* :mod:`benchmarks.replay` is the replay server (threads on blocking sockets, a separate
  process): it answers the handshake, subscribe, ping, add_order and the two REST calls the
  clients make, and writes the pre-built frames as fast as the socket takes them.
* :mod:`benchmarks.peers` runs ONE measurement of one client in its own process and prints
  a JSON result line.
* :mod:`benchmarks.__main__` orchestrates the scenarios and writes the results table.
"""
