"""What each site should run, read from the committed bundles (a working tree's bundles folder,
or the same folder at a git revision): the image's model version, the status interval, and
the power model's prediction, from each bundle's model.nmc and report.json. Nothing is
rebuilt, so the status of a thousand sites costs reading two files per site.

A node is matched to its site by the name the network server knows it by: the site's slug
(lower case, every run of characters other than a-z and 0-9 as one '-', a name both
ChirpStack and The Things Stack accept for a device).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.gitrev import check_revision
from engine.image import layout as L
from engine.telemetry.status import Desired


class DesiredError(Exception):
    """The bundles cannot be read as a fleet's desired state."""


def device_slug(site: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", site.lower()).strip("-")


def model_version(image: bytes) -> int:
    """The frames' model_version: the first four bytes of the image's SHA-256 (its trailer),
    little-endian."""
    header = L.HEADER.unpack(image)
    start = header["trailer_offset"] + L.TRAILER.offsets["sha256"]
    return int.from_bytes(image[start:start + 4], "little")


def security_version(image: bytes) -> int:
    """The security version the image's trailer states (image format 2 on; 0 before)."""
    offset = L.TRAILER.offsets.get("security_version")
    if offset is None:
        return 0
    start = L.HEADER.unpack(image)["trailer_offset"] + offset
    return int.from_bytes(image[start:start + 4], "little")


def desired_from_files(image: bytes, report: Mapping[str, Any], revision: str, where: str) -> Desired:
    try:
        power = report["resolve"]["power"]
        alerts = report["firmware"]["alerts"]
        self_discharge = next(c["uA"] for c in power["consumers"] if c["name"] == "self-discharge")
        site = str(report["site"])
        device = device_slug(site)
        return Desired(site=site, spec=str(report.get("spec", "")), revision=revision, device=device,
                       model_version=model_version(image),
                       security_version=security_version(image),
                       status_interval_s=int(alerts["status_interval_s"]),
                       load_current_a=(float(power["total_uA"]) - float(self_discharge)) * 1e-6,
                       self_discharge_a=float(self_discharge) * 1e-6, usable_ah=float(power["usable_Ah"]),
                       predicted_life_years=float(power["life_years"]), where=where)
    except (KeyError, TypeError, ValueError, StopIteration) as exc:
        raise DesiredError(f"{where}: not a bundle nmspec can read the desired state from ({exc!r})") from None


def desired_from_folder(folder: Path, revision: str = "working tree") -> list[Desired]:
    """Every bundle (a folder holding model.nmc and report.json) under `folder`."""
    if not folder.is_dir():
        raise DesiredError(f"{folder}: no such bundles folder")
    out = []
    for image in sorted(folder.rglob("model.nmc")):
        report_path = image.parent / "report.json"
        if not report_path.is_file():
            continue
        try:
            report = json.loads(report_path.read_text())
        except ValueError as exc:
            raise DesiredError(f"{report_path}: not JSON ({exc})") from None
        out.append(desired_from_files(image.read_bytes(), report, revision, str(image.parent)))
    return _unique(out)


def _git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(["git", *args], cwd=repo, input=data, capture_output=True, check=False)
    if done.returncode != 0:
        raise DesiredError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def desired_at_revision(repo: Path, revision: str, folder: str) -> list[Desired]:
    """The bundles under `folder` (relative to the repository root) as committed at `revision`."""
    check_revision(revision)
    commit = _git(repo, "rev-parse", "--short=12", "--verify", "--end-of-options", f"{revision}^{{commit}}").decode().strip()
    names = _git(repo, "ls-tree", "-r", "--name-only", commit, "--", folder).decode().splitlines()
    images = sorted(n for n in names if n.endswith("/model.nmc") and n[:-len("model.nmc")] + "report.json" in set(names))
    wanted = [p for n in images for p in (n, n[:-len("model.nmc")] + "report.json")]
    blobs = _cat(repo, commit, wanted)
    out = [desired_from_files(blobs[n], json.loads(blobs[n[:-len("model.nmc")] + "report.json"]), commit,
                              f"{commit}:{n[:-len('/model.nmc')]}") for n in images]
    return _unique(out)


def _cat(repo: Path, commit: str, paths: list[str]) -> dict[str, bytes]:
    """Many files of one commit in one `git cat-file --batch`."""
    raw = _git(repo, "cat-file", "--batch", data="".join(f"{commit}:{p}\n" for p in paths).encode())
    out, pos = {}, 0
    for path in paths:
        end = raw.index(b"\n", pos)
        header = raw[pos:end].split()
        if len(header) != 3:
            raise DesiredError(f"{commit}:{path}: {raw[pos:end].decode(errors='replace')}")
        size = int(header[2])
        out[path] = raw[end + 1:end + 1 + size]
        pos = end + 1 + size + 1
    return out


def _unique(items: list[Desired]) -> list[Desired]:
    seen: dict[str, Desired] = {}
    for d in items:
        if d.site in seen:
            raise DesiredError(f"two bundles for site {d.site}")
        seen[d.site] = d
    return sorted(seen.values(), key=lambda d: d.site)
