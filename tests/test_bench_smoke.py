"""The benchmarks work: the replay's book stream verifies, and quick scenarios run end to end.

Nothing here asserts a timing; these tests prove the harness itself is correct (valid
checksums from the replay data, real runs over loopback, ``ws://`` and ``wss://``, that
process every message, and the order-under-load runs with and without their stream).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.streams import build_book_stream, index_of, timestamp
from kraken_trio._proto import spot as s
from kraken_trio._proto.book import L2Book
from kraken_trio._proto.codec import SpotDecoder

ROOT = Path(__file__).resolve().parents[1]


def book_data(decoder: SpotDecoder, text: str) -> s.BookData:
    msg = decoder.decode(text)
    assert isinstance(msg, s.BookMessage)
    return msg.data[0]


@pytest.mark.parametrize("depth", [10, 1000])
def test_replay_book_stream_checksums_verify_through_the_decoder(depth: int) -> None:
    stream = build_book_stream(2000, depth=depth, seed=depth)
    decoder = SpotDecoder()
    book = L2Book("BTC/USD", depth, 1, 8)
    first = book_data(decoder, stream.snapshot)
    book.apply_snapshot(first.bids, first.asks)
    assert book.verify(first.checksum)
    checksums = set()
    for text in stream.updates:
        data = book_data(decoder, text)
        book.apply_update(data.bids, data.asks)
        assert book.verify(data.checksum), text
        checksums.add(data.checksum)
    assert len(checksums) > 1000  # the book really moves
    assert book.bids() == stream.final_bids
    assert book.asks() == stream.final_asks
    assert book.bid_count == depth


def test_timestamps_encode_the_message_index() -> None:
    for i in (0, 1, 999, 1000, 59_999, 3_600_000, 86_400_001):
        assert index_of(timestamp(i)) == i


def quick_run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``python -m benchmarks --quick ARGS`` into tmp_path; returns it and its results page."""
    out = tmp_path / "bench.md"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            *args,
            "--output",
            str(out),
            "--json",
            str(tmp_path / "runs.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=55,
        check=False,
    )
    return proc, out


def test_quick_stream_scenario_runs_end_to_end(tmp_path: Path) -> None:
    proc, out = quick_run(
        tmp_path, "--only", "stream", "--peers", "kraken_trio", "--schemes", "ws", "--no-whatif"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| stream |")]
    assert any("kraken_trio" in row for row in rows), text
    assert any("sender alone" in row for row in rows), text
    runs = json.loads((tmp_path / "runs.json").read_text())["rows"]
    kt = next(r for r in runs if r["peer"] == "kraken_trio")["runs"][0]
    sink = next(r for r in runs if r["peer"] == "sink")["runs"][0]
    assert kt["messages"] == 20_000  # every update of the quick stream reached `async for`
    assert kt["elapsed"] > 0
    assert kt["cpu"] > 0
    assert kt["rss_kib"] > 0
    assert sink["bytes"] >= 20_000 * 100  # the sender wrote the whole stream


def test_quick_stream_runs_over_tls_for_both_clients(tmp_path: Path) -> None:
    pytest.importorskip("kraken.spot")
    proc, out = quick_run(
        tmp_path,
        "--only",
        "stream",
        "--peers",
        "kraken_trio",
        "sdk",
        "--schemes",
        "wss",
        "--no-whatif",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["peer"]: r for r in json.loads((tmp_path / "runs.json").read_text())["rows"]}
    assert {r["scenario"] for r in rows.values()} == {"stream wss"}
    # Both clients verified the throwaway CA's certificate and got every update over TLS.
    assert rows["kraken_trio"]["runs"][0]["messages"] == 20_000
    assert rows["sdk"]["runs"][0]["messages"] == 20_000
    assert rows["sink"]["runs"][0]["bytes"] >= 20_000 * 100
    assert "Stream over wss://" in out.read_text()


def test_quick_order_under_load_reports_every_variant(tmp_path: Path) -> None:
    proc, out = quick_run(tmp_path, "--only", "order_load")
    # Exit 1 is a client failure reported in the table (e.g. a resync under load); the
    # harness itself must not crash.
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    if proc.returncode:
        assert "failed rows:" in proc.stderr, proc.stderr[-3000:]
    rows = {
        r["scenario"]: r["runs"][0]
        for r in json.loads((tmp_path / "runs.json").read_text())["rows"]
    }
    assert set(rows) == {"order+idle", "order+slices", "order+bursts"}
    # The quick run's 300 orders after warm-up; under load the series stops early if the
    # stream is about to end, so that every order measured ran under the load.
    assert len(rows["order+idle"]["latencies_ns"]) == 300
    for run in rows.values():
        assert 0 < len(run["latencies_ns"]) <= 300
        assert run["messages"] == len(run["latencies_ns"])
    assert rows["order+idle"]["load_messages"] == 0  # idle: the book got its snapshot only
    assert rows["order+slices"]["load_messages"] > 0
    assert rows["order+bursts"]["load_messages"] > 0
    text = out.read_text()
    assert "Order p99 under a slices load" in text
    assert "Order p99 under a bursts load" in text


def test_a_failed_run_is_reported_in_its_row_and_its_goal() -> None:
    from benchmarks.report import Row, goals, table

    def run(messages: int, failed: str | None = None) -> dict[str, object]:
        return {"messages": messages, "elapsed": 1.0, "cpu": 0.5, "failed": failed}

    rows = [
        Row("stream", "kraken_trio", [run(38_000, "OverrunError after 38,000 messages")]),
        Row("stream", "sdk", [run(40_000)]),
        Row("book10", "kraken_trio", [run(90_000), run(1_000, "book resync after 1,000")]),
        Row("book10", "sdk", [run(30_000)]),
    ]
    text = table(rows)
    stream_kt = next(line for line in text.splitlines() if "| stream | kraken_trio |" in line)
    assert "| FAILED |" in stream_kt  # no rate from a failed run
    assert "FAILED in 1 of 1 run(s)**: OverrunError after 38,000 messages" in stream_kt
    book_kt = next(line for line in text.splitlines() if "| book10 | kraken_trio |" in line)
    assert "| 90,000 | 3.00x |" in book_kt  # the rate of the run that did not fail
    assert "FAILED in 1 of 2 run(s)**: book resync after 1,000" in book_kt
    verdicts = goals(rows).splitlines()
    assert "no rate (every run failed) -> MISSED: kraken_trio failed in 1 of 1" in verdicts[0]
    assert verdicts[1].endswith(
        "-> MISSED: kraken_trio failed in 1 of 2 run(s) (book resync after 1,000)"
    )
