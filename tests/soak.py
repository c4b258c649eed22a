"""A long seeded fault storm: ``nox -s soak -- --minutes N`` (or ``python tests/soak.py``).

Runs the same storm as ``tests/test_chaos.py`` (see ``chaos_storm.py``) for as long as asked,
prints its summary and exits with status 1 if any invariant was broken (0 otherwise).

Examples::

    nox -s soak -- --minutes 10
    python tests/soak.py --minutes 2 --seed 7
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from functools import partial

import trio
from chaos_storm import run_storm


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the storm, print the summary; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes of faults (5)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault sequence (1)")
    parser.add_argument(
        "--log-level",
        default="ERROR",
        help="level of the kraken_trio logger on stderr (ERROR; WARNING shows every fault)",
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    # The storm turns the kraken_trio logger up to DEBUG (it scans every line for secrets);
    # what reaches stderr is chosen here, on the handler.
    handler = logging.StreamHandler()
    handler.setLevel(args.log_level.upper())
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)  # the fake's own log lines
    seconds = args.minutes * 60
    print(f"soak: seed {args.seed}, {args.minutes:g} minute(s) of faults")
    started = time.monotonic()
    summary = trio.run(partial(run_storm, args.seed, seconds, log_handler=handler))
    print(summary)
    print(f"soak: wall time {time.monotonic() - started:.1f} s")
    return 1 if summary.violations else 0


if __name__ == "__main__":
    sys.exit(main())
