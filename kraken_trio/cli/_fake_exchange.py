"""``kraken-trio fake-exchange``: run the fake Kraken exchange standalone until Ctrl-C.

Prints where everything listens, then serves. With ``--format json`` (default) one line::

    {"endpoints":{"spotPublicV2":"ws://127.0.0.1:...", ...},"rest_url":"http://...",
     "futures_rest_url":"http://.../derivatives","api_key":"...","api_secret":"..."}

With ``--format text``, one ``key=value`` line per endpoint key, then ``rest``,
``futures_rest`` (in place of ``https://futures.kraken.com/derivatives``), ``api_key`` and
``api_secret``. With ``--tls`` every URL is ``wss://``/``https://`` and ``ca_file`` (the
throwaway CA's PEM, for ``SSL_CERT_FILE``) is printed too. The secret is printed on purpose:
it is the fake's own, and clients in other processes need it to sign the token request.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, TextIO

import trio

from . import Command
from ._output import _leaves

if TYPE_CHECKING:
    from ..testing import FakeKraken

__all__ = ["COMMAND", "describe"]


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="base port: public, private, level3, beta public, beta private, REST, futures "
        "take PORT..PORT+6 (default: ephemeral ports)",
    )
    parser.add_argument("--seed", type=int, default=0, help="market seed (default 0)")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument(
        "--update-interval",
        type=float,
        default=0.05,
        help="seconds between market steps (default 0.05)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve wss:// and https:// with a throwaway CA; its PEM path is printed as "
        "ca_file (set SSL_CERT_FILE to it); needs kraken-trio[testing]",
    )
    parser.add_argument(
        "--format", choices=("json", "text"), default="json", help="how to print the URLs"
    )


def describe(fake: FakeKraken, fmt: str) -> str:
    """The text ``fake-exchange`` prints for ``fake``."""
    if fmt == "json":
        return json.dumps(
            {
                "endpoints": {str(k): v for k, v in fake.endpoints.items()},
                "rest_url": fake.rest_url,
                "futures_rest_url": fake.futures_rest_url,
                "api_key": fake.api_key,
                "api_secret": fake.api_secret,
                **({"ca_file": fake.ca_file} if fake.ca_file else {}),
            }
        )
    lines = [f"{k}={v}" for k, v in fake.endpoints.items()]
    lines += [f"rest={fake.rest_url}", f"futures_rest={fake.futures_rest_url}"]
    lines += [f"api_key={fake.api_key}", f"api_secret={fake.api_secret}"]
    if fake.ca_file:
        lines.append(f"ca_file={fake.ca_file}")
    return "\n".join(lines)


async def _serve(args: argparse.Namespace, out: TextIO) -> None:
    from ..testing import open_fake_kraken  # the fake needs the 'testing' extra

    async with open_fake_kraken(
        seed=args.seed,
        host=args.host,
        base_port=args.port,
        update_interval=args.update_interval,
        tls=args.tls,
    ) as fake:
        print(describe(fake, args.format), file=out, flush=True)
        await trio.sleep_forever()


def _run(args: argparse.Namespace) -> int:
    if args.port < 0 or args.port > 65535 - 7:
        print(f"kraken-trio fake-exchange: --port {args.port} is out of range", file=sys.stderr)
        return 2
    if args.update_interval < 0:
        print("kraken-trio fake-exchange: --update-interval must be >= 0", file=sys.stderr)
        return 2
    try:
        import kraken_trio.testing  # noqa: F401  (fails with a clear message without the extra)
    except ImportError as exc:
        print(f"kraken-trio fake-exchange: {exc}", file=sys.stderr)
        return 1
    try:
        # Ctrl-C is delivered to the main task at a checkpoint (inside the exchange's block),
        # so it leaves as a plain KeyboardInterrupt, never from inside a server task.
        trio.run(_serve, args, sys.stdout, restrict_keyboard_interrupt_to_checkpoints=True)
    except KeyboardInterrupt:  # Ctrl-C is how this command is meant to stop
        return 0
    except BaseException as exc:
        # A taken port fails inside the exchange's nursery: an OSError in an exception group.
        failure = next((e for e in _leaves(exc) if isinstance(e, OSError)), None)
        if failure is None:
            raise
        where = f"{args.host} port {args.port}..{args.port + 6}" if args.port else args.host
        reason = failure.strerror or str(failure)
        print(f"kraken-trio fake-exchange: cannot listen on {where}: {reason}", file=sys.stderr)
        return 1
    except RuntimeError as exc:  # --tls without trustme: the message names the extra
        print(f"kraken-trio fake-exchange: {exc}", file=sys.stderr)
        return 1
    return 0  # pragma: no cover - _serve never returns on its own


COMMAND = Command(
    name="fake-exchange",
    help="run the fake Kraken exchange on loopback and print its URLs",
    configure=_configure,
    run=_run,
)
