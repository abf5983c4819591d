"""The `kgrel` command line: serve, ingest, predict, extract, eval, calibrate, train, adapt, kg. One module per command.

Each command prints JSON on stdout (the last line, for evaluations) and progress on stderr. Commands
import torch and the models inside `run`, so that `kgrel ingest` or `kgrel predict --url` start fast.
"""

from __future__ import annotations

import argparse
import sys

from kgrel.app.cli import adapt, evaluate, extract, ingest, kg, predict, serve, train

COMMANDS = (serve, ingest, predict, extract, evaluate, train, adapt, kg)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kgrel", description="Knowledge-graph-augmented relation extraction.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
