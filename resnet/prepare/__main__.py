"""``python -m resnet.prepare {weights,warmup}``: get a machine ready for class (see ``resnet.prepare``)."""

from __future__ import annotations

import argparse
import sys

from ..model.network import IMAGENET_DEPTHS
from .tasks import fetch_weights, warm_up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resnet.prepare", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("weights", help="download the official ImageNet weights (resumable, MD5-checked)")
    fetch.add_argument("--depth", type=int, nargs="+", choices=IMAGENET_DEPTHS, default=[50],
                       help="which ResNets (default: 50, the Feature maps page's default)")
    commands.add_parser("warmup", help="import the reference runs, load the shipped models, export the fast path")
    args = parser.parse_args(argv)
    if args.command == "weights":
        return 1 if fetch_weights(args.depth) else 0
    warm_up()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
