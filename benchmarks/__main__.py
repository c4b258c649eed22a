"""``python -m benchmarks [--quick] [--only S ...] [--peers P ...] [--output FILE]``.

Starts one replay server process per scenario group, runs every peer against it, each run
in its own process, and prints the table of medians. The full run writes the table into
``docs/benchmarks.md`` (between the ``results`` markers, keeping the hand-written notes);
``--quick`` is a smoke run (few seconds per scenario, one run each, nothing asserted about
timing, nothing written unless ``--output`` is given).

kraken_trio runs with its default settings in every row. A run in which a client fails
(an ``OverrunError``, a book resync) is reported in its row with the message count it
reached, the other rows still run, and the command exits with status 1 at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .report import (
    LOAD_PACES,
    ROOT,
    Row,
    code_version,
    machine,
    rate_text,
    results_block,
    versions,
    write_results,
)

SCENARIOS = ("stream", "book", "order", "order_load", "fanout", "idle")
SCHEMES = ("ws", "wss")


@dataclass
class Settings:
    """Sizes of one suite run.

    A run ends when the client has processed all ``count`` messages (rates are measured
    over the whole stream, first message to last), or at ``cap`` seconds for a client too
    slow to finish (then the messages it processed by then are counted). No fixed short
    window: a client that reads ahead and delivers late (see docs/benchmarks.md) would be
    measured unfairly by one.
    """

    quick: bool
    runs: int
    count: int  # updates in the stream scenario and in the fan-out stream
    book_count: int  # updates per book run
    slow_book_count: int  # python-kraken-sdk at depth 1000 (it re-sorts per level)
    cap: float
    order_count: int
    order_warmup: int
    fanout_symbols: int
    idle_seconds: float
    load_seconds: float  # length of the paced book stream of the order-under-load scenario
    book_subscribers: int = 10
    load_rate: int = 20_000  # messages a second of that stream

    @property
    def load_count(self) -> int:
        return int(self.load_rate * self.load_seconds)


def settings(quick: bool, runs: int | None) -> Settings:
    if quick:
        return Settings(True, runs or 1, 20_000, 20_000, 2_000, 20.0, 300, 50, 500, 3.0, 4.0)
    return Settings(False, runs or 3, 150_000, 100_000, 6_000, 45.0, 3000, 200, 500, 30.0, 15.0)


# ------------------------------------------------------------------------------ processes


@contextmanager
def replay(config: dict[str, Any], tls: bool = False) -> Iterator[dict[str, Any]]:
    """Start the replay server in its own process; yield its READY info.

    With ``tls`` the server also speaks TLS, with a certificate from a throwaway CA whose
    file is ``info["ca"]`` (deleted afterwards).
    """
    with tempfile.TemporaryDirectory(prefix="kt-bench-") as tmp:
        ca = None
        if tls:
            from .tls import make_ca

            paths = make_ca(Path(tmp))
            config = {**config, "cert": paths["cert"]}
            ca = paths["ca"]
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.replay",
                json.dumps(config | {"exit_with_parent": True}),
            ],
            stdin=subprocess.PIPE,  # the server exits when this closes, even if we are killed
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("READY "):
                raise SystemExit(f"replay server failed to start: {line!r}")
            yield {**json.loads(line[6:]), "ca": ca}
        finally:
            proc.kill()
            proc.wait()


def start_peer(spec: dict[str, Any]) -> subprocess.Popen[str]:
    env = None
    if spec.get("ca"):  # the clients' default TLS context trusts the throwaway CA
        env = {**os.environ, "SSL_CERT_FILE": spec["ca"]}
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.peers", json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def finish_peer(proc: subprocess.Popen[str], spec: dict[str, Any], limit: float) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise SystemExit(f"peer {spec['peer']}/{spec['scenario']} exceeded {limit}s") from None
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            if spec["scenario"] in ("stream", "book", "fanout") and not result.get("failed"):
                result.setdefault("capped", result["messages"] < spec["count"])
            if result.get("failed"):
                log(f"  FAILED {spec['peer']}/{spec['scenario']}: {result['failed']}")
            return result
    raise SystemExit(
        f"peer {spec['peer']}/{spec['scenario']} failed (exit {proc.returncode}):\n{err[-3000:]}"
    )


def run_peer(spec: dict[str, Any], limit: float = 120.0) -> dict[str, Any]:
    return finish_peer(start_peer(spec), spec, limit)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


WHATIF_STREAM = ["checksum"]


def interleaved(rows: list[Row], specs: list[dict[str, Any]], runs: int) -> list[Row]:
    """Run 1 of every row, then run 2 of every row...: load drift hits all peers alike.

    Returns the rows that ran (a what-if row whose patch no longer fits the library is
    dropped with a message).
    """
    live = list(zip(rows, specs, strict=True))
    for _ in range(runs):
        for row, s in list(live):
            result = run_peer(s)
            if "skipped" in result:
                log(f"  skipping {row.scenario}/{row.peer}: {result['skipped']}")
                live.remove((row, s))
                continue
            row.runs.append(result)
    return [row for row, _ in live]


def scenario_stream_and_book(
    cfg: Settings,
    peers: list[str],
    which: set[str],
    rows: list[Row],
    whatif: bool,
    schemes: list[str],
) -> None:
    """Stream and verified-book rows, over ``ws://`` and then ``wss://`` (one replay)."""
    depths = [10, 1000] if "book" in which else [10]
    count = max(cfg.count, cfg.book_count)
    with replay({"depths": depths, "count": count}, tls="wss" in schemes) as info:
        counts = {int(k): v for k, v in info["book_count"].items()}
        for scheme in schemes:
            tls = scheme == "wss"
            link = {"port": info["port"], "tls": tls, "ca": info["ca"] if tls else None}
            suffix = " wss" if tls else ""
            clients: list[str] = [p for p in ("kraken_trio", "sdk", "ccxt") if p in peers]
            # The what-if rows measure a proposal once, over ws://.
            with_whatif = whatif and not tls and "kraken_trio" in peers
            if "stream" in which:
                stream_rows(cfg, clients, with_whatif, link, suffix, counts[10], info, rows)
            if "book" in which:
                for depth in depths if not tls else [10]:
                    book_rows(cfg, clients, with_whatif, link, suffix, depth, counts[depth], rows)


def stream_rows(
    cfg: Settings,
    clients: list[str],
    whatif: bool,
    link: dict[str, Any],
    suffix: str,
    stream_len: int,
    info: dict[str, Any],
    rows: list[Row],
) -> None:
    name = "stream" + suffix
    group = [Row(name, "sink", note="reads and discards the bytes")]
    specs: list[dict[str, Any]] = [
        {
            **link,
            "peer": "sink",
            "scenario": "stream",
            "depth": 10,
            "count": stream_len,
            "bytes": info["book_bytes"]["10"],
        }
    ]
    notes = {
        "kraken_trio": "subscribe('book'): typed structs via async for",
        "sdk": "SpotWSClient raw-dict callback",
        "ccxt": "watch_order_book (keeps a book, no checksum)",
    }
    for peer in clients:
        group.append(Row(name, peer, note=notes[peer]))
        specs.append(spec(peer, "stream", link, cfg, cfg.count, 10))
    if whatif:
        group.append(Row(name, "kt_whatif", note="what-if: " + "+".join(WHATIF_STREAM)))
        specs.append(spec("kraken_trio", "stream", link, cfg, cfg.count, 10, WHATIF_STREAM))
    group = interleaved(group, specs, cfg.runs)
    rows.extend(group)
    for row in group:
        log(f"  {name} {row.peer}: {rate_text(row)}")


def book_rows(
    cfg: Settings,
    clients: list[str],
    whatif: bool,
    link: dict[str, Any],
    suffix: str,
    depth: int,
    stream_len: int,
    rows: list[Row],
) -> None:
    name = f"book{depth}{suffix}"
    notes = {
        "kraken_trio": "k.book(): checksum verified on every update",
        "sdk": "SpotOrderBookClient: checksum verified",
        "ccxt": "watch_order_book: checksum OFF (ccxt default)",
    }
    group, specs = [], []
    for peer in clients:
        group.append(Row(name, peer, note=notes[peer]))
        n = cfg.slow_book_count if (peer, depth) == ("sdk", 1000) else cfg.book_count
        specs.append(spec(peer, "book", link, cfg, min(n, stream_len), depth))
    if whatif:
        group.append(Row(name, "kt_whatif", note="what-if: " + "+".join(WHATIF_STREAM)))
        specs.append(spec("kraken_trio", "book", link, cfg, cfg.book_count, depth, WHATIF_STREAM))
    group = interleaved(group, specs, cfg.runs)
    rows.extend(group)
    for row in group:
        log(f"  {name} {row.peer}: {rate_text(row)}")


def spec(
    peer: str,
    scenario: str,
    link: dict[str, Any],
    cfg: Settings,
    count: int,
    depth: int,
    whatif: list[str] | None = None,
) -> dict[str, Any]:
    # No buffer size or other option for kraken_trio: every row measures its defaults.
    # The other clients buffer without bound (websockets max_queue=None, aiohttp).
    return {
        **link,
        "peer": peer,
        "scenario": scenario,
        "depth": depth,
        "count": count,
        "duration": cfg.cap,
        "whatif": whatif or [],
    }


def scenario_order(cfg: Settings, rows: list[Row]) -> None:
    with replay({"depths": [], "count": 0}) as info:
        port = info["port"]
        base = {"scenario": "order", "port": port, "count": cfg.order_count}
        base["warmup"] = cfg.order_warmup
        group = [
            Row("order", "kraken_trio", note="k.add_order() through the broker"),
            Row("order", "raw", note="same JSON frame on one wsproto socket, await the reply"),
        ]
        specs = [{**base, "peer": "kraken_trio"}, {**base, "peer": "raw"}]
        group = interleaved(group, specs, cfg.runs)
        rows.extend(group)
        for row in group:
            log(f"  order {row.peer}: p50 {row.percentile(0.5) or 0:.0f} us")


def scenario_order_load(cfg: Settings, rows: list[Row]) -> None:
    """add_order round trips while the same client's book takes a paced stream, or none."""
    config = {"depths": [10], "count": cfg.load_count, "rate": cfg.load_rate}
    with replay(config) as info:
        rate = f"{cfg.load_rate:,} msg/s"
        notes = {
            "none": "k.add_order() with k.book() live on the public connection, no stream",
            "slices": f"the same while the book takes {rate} in 1 ms slices",
            "bursts": f"the same while the book takes {rate} in 256 KiB bursts",
        }
        group, specs = [], []
        for pace, name in LOAD_PACES.items():
            group.append(Row(name, "kraken_trio", note=notes[pace]))
            specs.append(
                {
                    "peer": "kraken_trio",
                    "scenario": "order_load",
                    "port": info["port"],
                    "pace": pace,
                    "count": cfg.order_count,
                    "warmup": cfg.order_warmup,
                    "stream_count": info["book_count"]["10"],
                }
            )
        group = interleaved(group, specs, cfg.runs)
        rows.extend(group)
        for row in group:
            log(
                f"  {row.scenario}: p50 {row.percentile(0.5) or 0:.0f} us, "
                f"p99 {row.percentile(0.99) or 0:.0f} us, max {row.worst or 0:.0f} us"
            )


def scenario_fanout(cfg: Settings, peers: list[str], rows: list[Row]) -> None:
    with replay({"depths": [], "count": cfg.count, "fanout": cfg.fanout_symbols}) as info:
        port = info["port"]
        symbols = [f"C{i:03d}/USD" for i in range(cfg.fanout_symbols)]
        notes = {
            "kraken_trio": "1 connection: 500 ticker + 500 trade, 10 subscribers of one book",
            "sdk": "1 connection, its callback hands book messages to 10 listeners",
            "ccxt": "watch_tickers + watch_trades_for_symbols + 10 watch_order_book",
        }
        group, specs = [], []
        for peer in [p for p in ("kraken_trio", "sdk", "ccxt") if p in peers]:
            group.append(Row("fanout", peer, note=notes[peer]))
            specs.append(
                {
                    "peer": peer,
                    "scenario": "fanout",
                    "port": port,
                    "symbols": symbols,
                    "count": info["fanout_count"],
                    "duration": cfg.cap,
                    "book_subscribers": cfg.book_subscribers,
                }
            )
        group = interleaved(group, specs, cfg.runs)
        rows.extend(group)
        for row in group:
            log(f"  fanout {row.peer}: {rate_text(row)}")


def scenario_idle(cfg: Settings, peers: list[str], rows: list[Row]) -> None:
    """Idle clients barely compete for the CPU, so every run of every peer goes at once."""
    with replay({"depths": [], "count": 0, "heartbeat": True}) as info:
        port = info["port"]
        jobs = []
        for peer in [p for p in ("kraken_trio", "sdk") if p in peers]:
            row = Row("idle", peer)
            row.note = "3 connections, heartbeats 1/s, own pings"
            rows.append(row)
            for _ in range(cfg.runs):
                s = {"peer": peer, "scenario": "idle", "port": port, "duration": cfg.idle_seconds}
                jobs.append((row, s, start_peer(s)))
        for row, s, proc in jobs:
            row.runs.append(finish_peer(proc, s, cfg.idle_seconds + 60))
        for row in rows[-2:]:
            log(f"  idle {row.peer}: {row.med('core_pct') or 0:.3f}% of a core")


def run_meta(cfg: Settings, seconds: float) -> dict[str, Any]:
    """What the results header says about a run (stored with ``--json``)."""
    return {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "quick": cfg.quick,
        "runs": cfg.runs,
        "count": cfg.count,
        "book_count": cfg.book_count,
        "slow_book_count": cfg.slow_book_count,
        "order_count": cfg.order_count,
        "load_rate": cfg.load_rate,
        "seconds": seconds,
        "machine": machine(),
        "versions": versions(),
        "commit": code_version(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: short, one run each")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument(
        "--peers",
        nargs="+",
        choices=["kraken_trio", "sdk", "ccxt"],
        default=["kraken_trio", "sdk", "ccxt"],
    )
    parser.add_argument(
        "--schemes",
        nargs="+",
        choices=SCHEMES,
        default=list(SCHEMES),
        help="links of the stream and book rows (wss: TLS with a throwaway CA)",
    )
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument(
        "--no-whatif", action="store_true", help="skip the rows that measure proposed fixes"
    )
    parser.add_argument("--json", type=Path, default=None, help="also dump every run as JSON")
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        help="run nothing: re-render the table of a --json dump (into --output if given)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results file (default: docs/benchmarks.md for a full run)",
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        dump = json.loads(args.render.read_text())
        rendered = [
            Row(r["scenario"], r["peer"], r["runs"], r.get("note", "")) for r in dump["rows"]
        ]
        block = results_block(rendered, dump["meta"])
        print(block)
        if args.output is not None:
            write_results(args.output, block)
        return
    cfg = settings(args.quick, args.runs)
    peers = list(args.peers)
    if "ccxt" in peers:
        try:
            import ccxt.pro  # noqa: F401
        except ImportError:
            log("ccxt is not installed: skipping the ccxt.pro peer")
            peers.remove("ccxt")
    if "sdk" in peers:
        try:
            import kraken.spot  # noqa: F401
        except ImportError:
            log("python-kraken-sdk is not installed: skipping it")
            peers.remove("sdk")
    which = set(args.only)
    rows: list[Row] = []
    started = time.perf_counter()
    if which & {"stream", "book"}:
        log("stream / book ...")
        scenario_stream_and_book(cfg, peers, which, rows, not args.no_whatif, args.schemes)
    if "order" in which:
        log("order round trip ...")
        scenario_order(cfg, rows)
    if "order_load" in which:
        log(f"order under load ({cfg.load_rate:,} msg/s book stream) ...")
        scenario_order_load(cfg, rows)
    if "fanout" in which:
        log("fan-out ...")
        scenario_fanout(cfg, peers, rows)
    if "idle" in which:
        log(f"idle ({cfg.idle_seconds:.0f} s) ...")
        scenario_idle(cfg, peers, rows)
    seconds = time.perf_counter() - started
    meta = run_meta(cfg, seconds)
    block = results_block(rows, meta)
    print(block)
    if args.json is not None:
        rows_out = [
            {"scenario": r.scenario, "peer": r.peer, "note": r.note, "runs": r.runs} for r in rows
        ]
        args.json.write_text(json.dumps({"meta": meta, "rows": rows_out}))
    output = args.output or (None if cfg.quick else ROOT / "docs" / "benchmarks.md")
    if output is not None:
        write_results(output, block)
        log(f"results written to {output}")
    problems = []
    for r in rows:
        if r.failures:
            problems.append(f"{r.scenario}/{r.peer}: {r.failures[0]}")
        elif any(x.get("valid") is False for x in r.runs):
            problems.append(f"{r.scenario}/{r.peer}: a book failed checksum verification")
        elif not any(x.get("messages") for x in r.runs) and r.scenario != "idle":
            problems.append(f"{r.scenario}/{r.peer}: no messages processed")
    if problems:  # reported in the table above; the exit status says so too
        raise SystemExit("failed rows:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    main()
