"""The benchmarks work: the replay's book stream verifies, and a quick scenario runs end to end.

Nothing here asserts a timing; these tests prove the harness itself is correct (valid
checksums from the replay data, a real run over loopback that processes every message).
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


def test_quick_stream_scenario_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--only",
            "stream",
            "--peers",
            "kraken_trio",
            "--no-whatif",
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
