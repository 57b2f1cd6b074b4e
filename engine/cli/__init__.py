"""The command line: parses arguments, calls the stages, renders diagnostics, owns exit codes.

Each command lives in its own module `engine.cli.cmd_<name>` exposing
`register(subparsers) -> argparse.ArgumentParser` whose parser sets `func(args) -> int`.
A command whose module does not exist yet says so plainly instead of faking output.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from typing import NoReturn

from engine import __version__

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_CHECK_DIFFERS, EXIT_INTERNAL = 0, 1, 2, 3, 70

# (command, one-line help, issue that builds it)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("validate", "validate spec files or folders", "foundation"),
    ("render", "print the merged, defaulted spec", "foundation"),
    ("schema", "print the JSON Schema of the spec language", "foundation"),
    ("targets", "list the part catalog's targets", "foundation"),
    ("fit", "rank every catalog target for a spec", "resolve"),
    ("graph", "print the placement graph of a spec", "resolve"),
    ("map", "map a spec's network onto neuro-cores", "mapping"),
    ("build", "build firmware, model image and manifest", "firmware"),
    ("inspect", "show the contents of a .nmc model image", "image"),
    ("verify", "verify a bundle or spec with the kernel", "kernel"),
    ("simulate", "run traces or spikes through the kernel", "kernel"),
    ("diff", "what changes for the device between two specs or bundles", "gitops"),
    ("keygen", "make an Ed25519 key pair for signing images", "image"),
    ("release", "what each site needs between two releases, and its LoRaWAN delivery", "field updates"),
    ("rollout", "waves of a rollout and whether the next may start", "field updates"),
    ("fleet", "field telemetry: ingest uplinks, fleet status, payload codec", "telemetry"),
    ("retire_key", "sign a statement that retires a signing key", "trust"),
)


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 2 with one line, never a traceback
        self.print_usage(sys.stderr)
        sys.stderr.write(f"nmspec: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _register_pending(subparsers: argparse._SubParsersAction[_ArgumentParser], name: str, help_text: str, owner: str) -> None:
    parser = subparsers.add_parser(name, help=f"{help_text} (not built yet)")
    parser.add_argument("rest", nargs=argparse.REMAINDER)

    def pending(_args: argparse.Namespace) -> int:
        sys.stderr.write(
            f"nmspec {name}: not built yet (planned with the {owner} work); nothing was written\n"
        )
        return EXIT_USAGE

    parser.set_defaults(func=pending)


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="nmspec",
        description="Build verified firmware bundles for neuromorphic sensor nodes from YAML site specs.",
    )
    parser.add_argument("--version", action="version", version=f"nmspec {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)
    subparsers.required = True
    for name, help_text, owner in COMMANDS:
        try:
            module = importlib.import_module(f"engine.cli.cmd_{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"engine.cli.cmd_{name}":
                raise
            _register_pending(subparsers, name, help_text, owner)
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        sys.stderr.write("nmspec: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 (a bug, whatever it is: said briefly, with where it happened; exit 70)
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        sys.stderr.write(
            f"nmspec: internal error: {type(exc).__name__}: {exc}\n"
            f"  at {frame.filename.rsplit('engine', 1)[-1].lstrip('/')}:{frame.lineno} in {frame.name}\n"
            "  this is a bug in nmspec, not in your spec; please report it with the spec that caused it\n"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
