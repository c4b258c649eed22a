"""Summarise a py-spy ``--format raw`` profile: self and inclusive % per function.

Usage: ``python -m benchmarks.spy_report PROFILE.raw [--top N] [--filter TEXT]``.
To record one (py-spy samples the peer process while it runs against a replay)::

    py-spy record -r 500 -f raw -o kt.raw -- python -m benchmarks.peers '<spec json>'

Only samples taken while the measured client was busy count (idle samples are dropped with
``--nonidle`` semantics: py-spy's default excludes idle threads).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``file.py:func``, keeping the package folder."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    parts = path.replace("\\", "/").split("/")
    for anchor in ("kraken_trio", "benchmarks", "trio", "wsproto", "kraken", "ccxt", "websockets"):
        if anchor in parts:
            parts = parts[parts.index(anchor) :]
            break
    else:
        parts = parts[-1:]
    return f"{'/'.join(parts)}:{m.group('func')}"


def load(path: Path, within: str = "") -> tuple[Counter[str], Counter[str], int]:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [short(f) for f in stack.split(";") if f.strip()]
        if not frames or (within and not any(within in f for f in frames)):
            continue
        total += count
        self_time[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    return self_time, inclusive, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--filter", default="", help="only functions containing this text")
    parser.add_argument(
        "--within",
        default="trio/_core/_run.py:run",
        help="only samples whose stack holds this frame (default: inside trio.run, which "
        "leaves out imports); '' for all",
    )
    args = parser.parse_args()
    self_time, inclusive, total = load(args.profile, args.within)
    print(f"{total} samples")
    print("\nself time (% of samples):")
    for name, n in self_time.most_common():
        if args.filter in name:
            print(f"  {100 * n / total:5.1f}%  {name}")
            args.top -= 1
            if args.top <= 0:
                break
    print("\ninclusive time of library and peer functions (% of samples):")
    shown = 0
    for name, n in inclusive.most_common():
        if any(k in name for k in ("kraken_trio/", "benchmarks/", "trio/_channel", "wsproto/")):
            print(f"  {100 * n / total:5.1f}%  {name}")
            shown += 1
            if shown >= 30:
                break


if __name__ == "__main__":
    main()
