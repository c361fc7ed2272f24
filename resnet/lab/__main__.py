"""The lab's command line: ``python -m resnet.lab {train,reference,shipped,landscape} …``.

    python -m resnet.lab train --depth 56 --shortcut none --steps 200
    python -m resnet.lab reference --preset degradation    # rewrite assets/reference_runs
    python -m resnet.lab shipped --only plain20_digits16   # retrain a shipped model (assets/models)
    python -m resnet.lab landscape                         # rewrite assets/landscapes (ResNet-56 vs plain-56)
"""

from __future__ import annotations

import sys

COMMANDS = ("train", "reference", "shipped", "landscape")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in COMMANDS:
        print(f"usage: python -m resnet.lab {{{','.join(COMMANDS)}}} [--help | options]")
        return 2
    if args[0] == "train":
        from .train import main as command
    elif args[0] == "reference":
        from .presets import main as command
    elif args[0] == "landscape":
        from .landscape import main as command
    else:
        from .shipped import main as command
    return command(args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
