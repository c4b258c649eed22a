"""The results: a row per scenario and client, the table, the goals, the page's block.

Rows hold every run's raw result; the table shows medians (a failed run is left out of
the rates and quoted in its row), and the goals are ratios within one run.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

LOAD_PACES = {
    "none": "order+idle",
    "slices": "order+slices",
    "bursts": "order+bursts",
}
"""The order-under-load variants: the replay's pace -> the row's scenario name."""
LOADED = (LOAD_PACES["slices"], LOAD_PACES["bursts"])
PEER_NAMES = {
    "kraken_trio": "kraken_trio",
    "sdk": "python-kraken-sdk",
    "ccxt": "ccxt.pro",
    "raw": "raw trio+wsproto",
    "sink": "sender alone (socket sink)",
    "kt_whatif": "kraken_trio + proposed fixes",
}


@dataclass
class Row:
    scenario: str
    peer: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def med(self, key: str) -> float | None:
        vals = [r[key] for r in self.runs if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    @property
    def failures(self) -> list[str]:
        """What went wrong in the runs that failed (the client's error, when it came)."""
        return [r["failed"] for r in self.runs if r.get("failed")]

    @property
    def rate(self) -> float | None:
        """Median rate of the runs that did not fail."""
        vals = [
            r["messages"] / r["elapsed"]
            for r in self.runs
            if r.get("elapsed") and not r.get("failed")
        ]
        return statistics.median(vals) if vals else None

    @property
    def worst(self) -> float | None:
        """The slowest single latency of all runs, in µs."""
        vals = [max(r["latencies_ns"]) for r in self.runs if r.get("latencies_ns")]
        return max(vals) / 1000 if vals else None

    @property
    def cpu_per_100k(self) -> float | None:
        vals = [
            r["cpu"] / r["messages"] * 100_000
            for r in self.runs
            if r.get("messages") and not r.get("failed")
        ]
        return statistics.median(vals) if vals else None

    def percentile(self, q: float) -> float | None:
        vals = []
        for r in self.runs:
            lat = sorted(r.get("latencies_ns") or [])
            if lat:
                vals.append(lat[min(len(lat) - 1, int(len(lat) * q))] / 1000)
        return statistics.median(vals) if vals else None


def rate_text(row: Row) -> str:
    """A row's rate for the progress log (FAILED when no run succeeded)."""
    if row.rate is None:
        return "FAILED" if row.failures else "-"
    return f"{row.rate:,.0f} msg/s"


# ------------------------------------------------------------------------------ scenarios


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def baseline(rows: list[Row], scenario: str) -> Row | None:
    """The row a scenario's ratios are taken against."""
    if scenario in LOAD_PACES.values():
        want = (LOAD_PACES["none"], "kraken_trio")
    else:
        want = (scenario, "raw" if scenario == "order" else "sdk")
    return next((r for r in rows if (r.scenario, r.peer) == want), None)


def ratio_text(r: Row, b: Row | None) -> str:
    """The "vs baseline" cell."""
    if b is None or b is r:
        return "-"
    if r.scenario == "order":
        p, q = r.percentile(0.5), b.percentile(0.5)
        return f"+{(p - q) / q * 100:.0f}% p50" if p and q else "-"
    if r.scenario in LOAD_PACES.values():
        p, q = r.percentile(0.99), b.percentile(0.99)
        return f"p99 {p / q:.2f}x idle" if p and q else "-"
    if r.scenario == "idle":
        p, q = r.med("core_pct"), b.med("core_pct")
        if not (p and q):
            return "-"
        return f"{q / p:.1f}x less CPU" if q >= p else f"{p / q:.1f}x more CPU"
    if r.peer != "sink" and r.rate and b.rate:
        return f"{r.rate / b.rate:.2f}x"
    return "-"


def extras(r: Row) -> list[str]:
    """The "extra" cell: what a row's scenario adds, and every failure."""
    extra = []
    if r.scenario == "idle":
        extra.append(f"{fmt(r.med('core_pct'), '.3f')}% of a core")
    if r.scenario == "fanout":
        extra.append(f"{fmt(r.med('rss_per_sub_kib'), '.2f')} KiB RSS/subscription")
    if r.scenario == "order" or r.scenario in LOAD_PACES.values():
        # How busy the machine was: the OS took the CPU from the client this often.
        extra.append(f"preempted {fmt(r.med('preempted'), ',.0f')} times")
    if r.scenario in LOAD_PACES.values():
        extra.append(f"{fmt(r.med('messages'), ',.0f')} orders")
        extra.append(f"max {fmt(r.worst, ',.0f')} µs (worst run)")
        if r.scenario != LOAD_PACES["none"]:
            extra.append(f"load taken {fmt(r.med('load_rate'), ',.0f')} msg/s")
    capped = sum(1 for x in r.runs if x.get("capped"))
    if capped:
        extra.append(f"{capped} run(s) stopped at the time cap")
    valid = [x.get("valid") for x in r.runs if "valid" in x and not x.get("failed")]
    if valid:
        extra.append(
            "checksum not checked"
            if valid[0] is None
            else ("all checksums OK" if all(valid) else "CHECKSUM FAILURES")
        )
    failures = r.failures
    if failures:
        extra.append(f"**FAILED in {len(failures)} of {len(r.runs)} run(s)**: {failures[0]}")
    return extra


def table(rows: list[Row]) -> str:
    lines = [
        "| scenario | client | msgs/s | vs baseline | CPU s / 100k msgs | CPU vs baseline "
        "| peak RSS MiB | p50 / p99 µs | extra | runs | how |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in rows:
        b = baseline(rows, r.scenario)
        cpu_ratio = "-"
        if (
            b is not None
            and r.peer not in (b.peer, "sink")
            and r.scenario != "idle"
            and r.cpu_per_100k
            and b.cpu_per_100k
        ):
            x = b.cpu_per_100k / r.cpu_per_100k
            cpu_ratio = f"{x:.2f}x less" if x >= 1 else f"{1 / x:.2f}x more"
        lat = "-"
        if r.percentile(0.5) is not None:
            lat = f"{fmt(r.percentile(0.5), '.0f')} / {fmt(r.percentile(0.99), '.0f')}"
        rss = r.med("rss_kib")
        # Under load the client's CPU is mostly the book's, not the orders'.
        no_cpu = r.scenario == "idle" or r.scenario in LOADED
        rate_text = "-" if r.scenario == "idle" else fmt(r.rate, ",.0f")
        if r.rate is None and r.failures:
            rate_text = "FAILED"
        lines.append(
            f"| {r.scenario} | {PEER_NAMES[r.peer]} | {rate_text} | {ratio_text(r, b)} "
            f"| {'-' if no_cpu else fmt(r.cpu_per_100k, '.2f')} | {cpu_ratio} "
            f"| {fmt(rss / 1024 if rss else None, '.0f')} | {lat} | {'; '.join(extras(r))} "
            f"| {len(r.runs)} | {r.note} |"
        )
    return "\n".join(lines)


def goals(rows: list[Row]) -> str:
    def get(scenario: str, peer: str) -> Row | None:
        return next((r for r in rows if r.scenario == scenario and r.peer == peer), None)

    def verdict(ok: bool, row: Row | None) -> str:
        if row is not None and row.failures:
            return (
                f"MISSED: kraken_trio failed in {len(row.failures)} of {len(row.runs)} "
                f"run(s) ({row.failures[0]})"
            )
        return "MET" if ok else "MISSED"

    out = []
    for scenario, label, target in (
        ("stream", "Stream over ws://", 4.0),
        ("stream wss", "Stream over wss://", 4.0),
        ("book10", "Verified book depth 10 over ws://", 3.0),
        ("book10 wss", "Verified book depth 10 over wss://", 3.0),
    ):
        kt, sdk = get(scenario, "kraken_trio"), get(scenario, "sdk")
        if kt is None or sdk is None or not sdk.rate:
            continue
        x = kt.rate / sdk.rate if kt.rate else None
        got = "no rate (every run failed)" if x is None else f"{x:.2f}x"
        if x is not None and kt.cpu_per_100k and sdk.cpu_per_100k:
            got += f" ({sdk.cpu_per_100k / kt.cpu_per_100k:.2f}x less CPU per message)"
        out.append(
            f"- {label}, default settings, >= {target:.0f}x python-kraken-sdk: {got} -> "
            + verdict(x is not None and x >= target, kt)
        )
    idle = get(LOAD_PACES["none"], "kraken_trio")
    q = idle.percentile(0.99) if idle else None
    for pace in ("slices", "bursts"):
        row = get(LOAD_PACES[pace], "kraken_trio")
        p = row.percentile(0.99) if row else None
        if row is None or not q:
            continue
        x = p / q if p else 0.0
        out.append(
            f"- Order p99 under a {pace} load <= 1.5x idle p99: {fmt(p, ',.0f')} vs "
            f"{q:,.0f} µs = {x:.2f}x (max {fmt(row.worst, ',.0f')} vs "
            f"{fmt(idle.worst if idle else None, ',.0f')} µs) -> " + verdict(x <= 1.5, row)
        )
    kt, sdk = get("book1000", "kraken_trio"), get("book1000", "sdk")
    if kt and sdk and kt.rate and sdk.rate:
        out.append(
            f"- Book depth 1000 (no re-sort per update): {kt.rate / sdk.rate:.1f}x "
            "SpotOrderBookClient (which re-sorts the side per level)"
        )
    kt, raw = get("order", "kraken_trio"), get("order", "raw")
    p = kt.percentile(0.5) if kt else None
    q = raw.percentile(0.5) if raw else None
    if p and q:
        over = (p - q) / q * 100
        out.append(
            f"- Broker overhead < 15% at p50: {over:.0f}% -> {'MET' if over < 15 else 'MISSED'}"
        )
    for scenario, label in (("stream", "stream"), ("book10", "book depth 10")):
        w, b = get(scenario, "kt_whatif"), get(scenario, "sdk")
        if w and b and w.rate and b.rate and w.cpu_per_100k and b.cpu_per_100k:
            out.append(
                f"- With the proposed fixes (what-if), {label}: {w.rate / b.rate:.2f}x the "
                f"rate, {b.cpu_per_100k / w.cpu_per_100k:.2f}x less CPU per message"
            )
    kt = get("idle", "kraken_trio")
    if kt and kt.med("core_pct") is not None:
        pct = kt.med("core_pct")
        assert pct is not None
        out.append(f"- Idle < 1% of a core: {pct:.3f}% -> {'MET' if pct < 1 else 'MISSED'}")
    return "\n".join(out)


def versions() -> str:
    names = [
        "kraken-trio",
        "python-kraken-sdk",
        "ccxt",
        "trio",
        "wsproto",
        "msgspec",
        "websockets",
        "aiohttp",
    ]
    parts = []
    for name in names:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)


def code_version() -> str:
    """Which kraken_trio was measured: BENCH_COMMIT, else the git commit of this tree."""
    commit = os.environ.get("BENCH_COMMIT")
    if commit:
        return commit
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "kraken_trio"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return out + (" + uncommitted changes in kraken_trio/" if dirty else "")


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def results_block(rows: list[Row], meta: dict[str, Any]) -> str:
    return "\n".join(
        [
            "<!-- results:start (generated by `python -m benchmarks`; edit outside) -->",
            f"Run: {meta['when']}, {'quick' if meta['quick'] else 'full'} mode, median of "
            f"{meta['runs']} run(s) per row, {meta['count']:,} updates in the stream and "
            f"fan-out runs, {meta['book_count']:,} per book run ({meta['slow_book_count']:,} "
            f"for python-kraken-sdk at depth 1000), "
            + (
                f"{meta['order_count']:,} orders per order run, a {meta['load_rate']:,} msg/s "
                "book stream under load, "
                if "load_rate" in meta
                else ""
            )
            + f"whole suite {meta['seconds']:.0f} s. kraken_trio runs with default settings "
            "in every row.",
            "",
            f"Machine: {meta['machine']}.",
            "",
            f"Versions: {meta['versions']}; kraken_trio code at {meta['commit']}.",
            "",
            table(rows),
            "",
            "Goals:",
            "",
            goals(rows),
            "<!-- results:end -->",
        ]
    )


def write_results(path: Path, block: str) -> None:
    start, end = "<!-- results:start", "<!-- results:end -->"
    if path.exists():
        text = path.read_text()
        if start in text and end in text:
            head = text[: text.index(start)]
            tail = text[text.index(end) + len(end) :]
            path.write_text(head + block + tail)
            return
    path.write_text("# Benchmarks\n\n" + block + "\n")
