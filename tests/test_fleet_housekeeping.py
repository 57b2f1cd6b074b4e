"""The build cache and the bundle folders after accidents: a damaged cached object is never
served, a bundle whose spec is gone is reported (and removed by a build), what a killed
build left behind is cleaned, pool workers die with their build, folders follow the umask."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from spec_cases import run_cli

ROOT = Path(__file__).resolve().parents[1]
SITE = "refinery-2/pump-p101"
BUILD = ["build", "pump-loihi.yaml", "--out", "out", "--no-verify", "--jobs", "1", "-q"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("housekeeping") / "repo"
    shutil.copytree(ROOT / "specs" / "examples", root)
    (root / ".git").mkdir()
    past = time.time() - 60  # files written just before a build are not trusted by the index
    for path in root.rglob("*"):
        os.utime(path, (past, past))
    code, _, err = run_cli(BUILD, root)
    assert code == 0, err
    return root


def cached_object(repo: Path, name: str) -> Path:
    (found,) = [p for p in (repo / ".nmspec-cache" / "objects").rglob(name) if ".nmspec-" not in p.parent.name]
    return found


def test_a_damaged_cached_object_is_never_served(repo):
    bundle = repo / "out" / SITE / "model.nmc"
    good = bundle.read_bytes()
    cached = cached_object(repo, "model.nmc")
    assert cached.read_bytes() == good
    # a damaged cache once copied into the bundle: --check must not call that up to date
    cached.write_bytes(good[:100])
    bundle.write_bytes(good[:100])
    code, _, err = run_cli([*BUILD[:-1], "--check"], repo)
    assert (code, err) == (3, f"out/{SITE}: changed model.nmc\n")
    cached_object(repo, "model.nmc").write_bytes(good[:100])
    code, _, err = run_cli(BUILD, repo)
    assert code == 0, err
    assert bundle.read_bytes() == good
    assert cached_object(repo, "model.nmc").read_bytes() == good


def test_a_bundle_whose_spec_is_gone_is_reported_then_removed(repo):
    other = repo / "pump-other.yaml"
    other.write_text((repo / "pump-loihi.yaml").read_text().replace(SITE, "refinery-2/pump-p102"))
    past = time.time() - 60
    os.utime(other, (past, past))
    code, _, err = run_cli(["build", "pump-loihi.yaml", "pump-other.yaml", "--out", "out", "--no-verify", "--jobs", "1",
                            "-q"], repo)
    assert code == 0, err
    other.unlink()
    code, out, err = run_cli([*BUILD[:-1], "--check"], repo)
    assert (code, err) == (3, "out/refinery-2/pump-p102: its spec pump-other.yaml is gone; a build removes this bundle\n")
    assert out.splitlines()[-1] == "2 sites checked against out/: 1 up to date, 1 orphaned; 1 from the cache"
    assert (repo / "out" / "refinery-2" / "pump-p102").is_dir()
    code, out, err = run_cli(BUILD[:-1], repo)
    assert code == 0, err
    assert out.splitlines()[-1] == "2 sites under out/: 1 up to date, 1 removed; 1 from the cache"
    assert not (repo / "out" / "refinery-2" / "pump-p102").exists()
    code, _, err = run_cli([*BUILD[:-1], "--check"], repo)
    assert (code, err) == (0, "")


def test_what_a_killed_build_left_is_cleaned_by_the_next(repo):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead = int(gone.stdout)
    left = [repo / "out" / "refinery-2" / f".pump-p101.nmspec-{dead}.k3j2h1g0",
            repo / "out" / "refinery-2" / f".pump-p101.nmspec-{dead}.oldq9w8e7r6",
            repo / ".nmspec-cache" / "objects" / "ab" / f".abcdef01.nmspec-{dead}.zz11yy22"]
    running = repo / "out" / f".other.nmspec-{os.getpid()}.a1b2c3d4"  # a build still at work: ours
    for folder in (*left, running):
        (folder / "firmware").mkdir(parents=True)
        (folder / "firmware" / "half.c").write_text("int x")
    index_tmp = repo / ".nmspec-cache" / f".index.nmspec-{dead}.x7y8z9w0"
    index_tmp.write_text("{")
    code, _, err = run_cli(BUILD, repo)
    assert code == 0, err
    assert [p for p in (*left, index_tmp) if p.exists()] == []
    assert (running / "firmware" / "half.c").read_text() == "int x"
    shutil.rmtree(running)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o755), (0o027, 0o750)])
def test_bundle_folders_follow_the_umask(repo, umask, mode):
    shutil.rmtree(repo / "out-mode", ignore_errors=True)
    previous = os.umask(umask)
    try:
        code, _, err = run_cli(["build", "pump-loihi.yaml", "--out", "out-mode", "--no-verify", "--jobs", "1", "-q"], repo)
    finally:
        os.umask(previous)
    assert code == 0, err
    bundle = repo / "out-mode" / SITE
    assert oct(bundle.stat().st_mode & 0o777) == oct(mode)
    assert oct((bundle / "model.nmc").stat().st_mode & 0o777) == oct(mode & 0o666)


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_pool_workers_die_with_their_build(repo):
    build = subprocess.Popen([sys.executable, "-m", "engine", "build", "pump-loihi.yaml", "pump-multicore.yaml",
                              "--out", "out-kill", "--no-cache", "--jobs", "2", "-q"], cwd=repo,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    for _ in range(600):  # the pool starts once both specs are found
        workers = _children(build.pid)
        if len(workers) >= 2 or build.poll() is not None:
            break
        time.sleep(0.1)
    assert len(workers) >= 2 and build.poll() is None
    os.kill(build.pid, signal.SIGKILL)
    build.wait()
    for _ in range(600):
        if not any(_running(w) for w in workers):
            break
        time.sleep(0.1)
    assert [w for w in workers if _running(w)] == []
