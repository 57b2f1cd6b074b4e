"""nmspec fleet: the field loop's observed state.

  fleet ingest   store uplinks from a network server's MQTT integration or JSON exports
  fleet status   per site, desired (bundles at a git revision) against reported
  fleet codec    the JavaScript payload codec for ChirpStack v4 / The Things Stack v3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli.common import EXIT_OK, EXIT_USAGE, emit_diagnostics
from engine.diagnostics import Diagnostic

if TYPE_CHECKING:
    from engine.cli.common import Subparsers
    from engine.telemetry.status import Desired
    from engine.telemetry.store import Store


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("fleet", help="field telemetry: ingest uplinks, fleet status, payload codec",
                                   description="The fleet as it runs: uplinks from the network server, each site's "
                                               "state against the repository, measured against predicted battery.")
    commands = parser.add_subparsers(dest="fleet_command", metavar="SUBCOMMAND", parser_class=type(parser))
    commands.required = True

    status = commands.add_parser("status", help="per site: Synced, OutOfSync, Degraded or Silent, with reasons",
                                 description="Compare what the committed bundles say each site should run with what "
                                             "the sites report. Exit codes: 0 every site Synced; 3 a site is OutOfSync "
                                             "and none needs attention; 1 a site is Degraded or Silent; 2 usage.")
    status.add_argument("bundles", nargs="?", default="bundles", metavar="BUNDLES",
                        help="folder of committed bundles (default: bundles)")
    status.add_argument("--rev", metavar="REV", help="read BUNDLES as committed at this git revision")
    _db_option(status)
    status.add_argument("--now", metavar="TIME", help="evaluate at this RFC 3339 time (default: the clock)")
    status.add_argument("--output", "-o", choices=("text", "json", "github"), default="text")
    status.add_argument("--html", metavar="DIR", help="also write the fleet page (index.html, status.json) to DIR")
    status.set_defaults(func=run_status)

    ingest = commands.add_parser("ingest", help="store uplinks from MQTT or JSON exports",
                                 description="Read uplinks from a ChirpStack v4 or The Things Stack v3 MQTT "
                                             "integration, or from their JSON exports, into the state database.")
    ingest.add_argument("exports", nargs="*", metavar="EXPORT", help="JSON or JSON-lines export files")
    ingest.add_argument("--mqtt", metavar="HOST[:PORT]", help="broker to subscribe to (port 1883 by default)")
    ingest.add_argument("--server", choices=("chirpstack", "tts", "both"), default="both",
                        help="which integration's topics to subscribe to (default: both)")
    ingest.add_argument("--topic", action="append", default=[], metavar="FILTER",
                        help="topic filter instead of the server's default (repeatable)")
    ingest.add_argument("--username", help="MQTT user name; the password is read from NMSPEC_MQTT_PASSWORD")
    ingest.add_argument("--client-id", default="nmspec-ingest", help="MQTT client id of the persistent session")
    ingest.add_argument("--idle-exit", type=float, metavar="SECONDS",
                        help="stop after this long without a message (default: run until interrupted)")
    _db_option(ingest)
    ingest.set_defaults(func=run_ingest)

    codec = commands.add_parser("codec", help="write the JavaScript payload codec for the network server",
                                description="decodeUplink for ChirpStack v4 (device profile codec) and The Things "
                                            "Stack v3 (uplink payload formatter), knowing the fleet's models.")
    codec.add_argument("bundles", nargs="?", default="bundles", metavar="BUNDLES")
    codec.add_argument("--rev", metavar="REV")
    codec.add_argument("--fleet", default=None, help="fleet name written into the codec (default: the repository's folder name)")
    codec.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    codec.set_defaults(func=run_codec)
    return parser


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH|URL",
                        help="state database: a SQLite file or a postgresql:// URL "
                             "(default: .nmspec/state.db at the repository root)")


def _problem(code: str, message: str, file: str | None = None, hint: str | None = None) -> int:
    return emit_diagnostics([Diagnostic("error", code, message, file=file, hint=hint)], "text")


def _root() -> Path:
    from engine.pipeline import find_root

    return find_root(Path.cwd().resolve())


def _open_store(args: argparse.Namespace, *, create: bool = True) -> Store:
    from engine.telemetry.store import DEFAULT_PATH, Store

    return Store.open(args.db or (_root() / DEFAULT_PATH), create=create)


def _desired(args: argparse.Namespace) -> list[Desired]:
    from engine.telemetry.desired import desired_at_revision, desired_from_folder

    if args.rev is None:
        return desired_from_folder(Path(args.bundles))
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False)
    if top.returncode != 0:
        raise ValueError("--rev needs a git repository")
    root = Path(top.stdout.strip())
    folder = os.path.relpath(Path(args.bundles).resolve(), root.resolve())
    return desired_at_revision(root, args.rev, Path(folder).as_posix())


def run_status(args: argparse.Namespace) -> int:
    from engine.telemetry import render
    from engine.telemetry.desired import DesiredError
    from engine.telemetry.ingest import parse_time
    from engine.telemetry.page import write_page
    from engine.telemetry.status import fleet_status
    from engine.telemetry.store import StoreError

    try:
        now_ms = parse_time(args.now) if args.now else int(time.time() * 1000)
    except ValueError as exc:
        _problem("NM964", str(exc), hint="for example --now 2027-01-31T12:00:00Z")
        return EXIT_USAGE
    try:
        desired = _desired(args)
    except (DesiredError, ValueError) as exc:
        return _problem("NM961", str(exc), hint="BUNDLES is the folder `nmspec build --out` writes")
    try:
        with _open_store(args, create=False) as store:
            fleet = fleet_status(desired, store.uplinks(), now_ms)
    except StoreError as exc:
        return _problem("NM960", str(exc))
    sys.stdout.write({"text": render.to_text, "json": render.to_json, "github": render.to_github}[args.output](fleet))
    if args.html:
        write_page(fleet, Path(args.html))
    return render.exit_code(fleet)


def run_ingest(args: argparse.Namespace) -> int:
    from engine.telemetry.ingest import TOPICS, MqttIngest, ingest_exports
    from engine.telemetry.store import StoreError
    from engine.telemetry.uplinks import IngestCounts

    if not args.exports and not args.mqtt:
        sys.stderr.write("nmspec fleet ingest: give export files or --mqtt HOST[:PORT]\n")
        return EXIT_USAGE
    missing = [e for e in args.exports if not Path(e).is_file()]
    if missing:
        return _problem("NM963", "no such export file", file=missing[0])
    total = IngestCounts()
    try:
        with _open_store(args) as store:
            if args.exports:
                total = total + ingest_exports(store, [Path(e) for e in args.exports])
            if args.mqtt:
                host, _, port = args.mqtt.partition(":")
                topics = args.topic or ([TOPICS["chirpstack"], TOPICS["tts"]] if args.server == "both"
                                        else [TOPICS[args.server]])
                ingest = MqttIngest(store, host, int(port or 1883), topics=topics, client_id=args.client_id,
                                    username=args.username, password=os.environ.get("NMSPEC_MQTT_PASSWORD"))
                try:
                    total = total + ingest.run(idle_exit_s=args.idle_exit)
                except ConnectionError as exc:
                    return _problem("NM962", str(exc))
            sys.stdout.write(total.describe() + f" (into {store.description})\n")
    except StoreError as exc:
        return _problem("NM960", str(exc))
    return EXIT_OK


def _git_show(where: str) -> bytes:
    revision, folder = where.split(":", 1)
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout.strip()
    return subprocess.run(["git", "show", f"{revision}:{folder}/model.nmc"], cwd=top, capture_output=True,
                          check=True).stdout


def run_codec(args: argparse.Namespace) -> int:
    from engine import frames
    from engine.pipeline import read_image
    from engine.telemetry.desired import DesiredError

    try:
        desired = _desired(args)
    except (DesiredError, ValueError) as exc:
        return _problem("NM961", str(exc))
    models: dict[int, dict[str, Any]] = {}
    for d in desired:
        image = Path(d.where, "model.nmc").read_bytes() if args.rev is None else _git_show(d.where)
        models[d.model_version] = {"site": d.site, "labels": list(read_image(image).metadata.labels)}
    fleet = args.fleet or _root().name
    text = frames.generate_js(fleet, models)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK
