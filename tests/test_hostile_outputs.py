"""Commands that replace a previous output (`submit --force`, `select --force`, `export`,
`report`) remove or overwrite only files inside DIR that the previous run recorded with
their sha256 (neurostock.core.outputs): every hostile entry of a record, a changed file,
a foreign or warehouse-owned DIR is told in one line and left alone. Real warehouse,
real files, the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from neurostock.core.paths import dbt_work_dir
from tests.conftest import built_sample
from tests.conftest import run_cli as _cli

pytestmark = pytest.mark.slow

SELECT = ("select", "--score", "technical_sharpness", "--threshold", "0", "--direction",
          "higher", "--set", "full_set")
# command -> (its arguments before --out, --force?, its record, a file it writes each
# run, a folder it writes into)
COMMANDS = {
    "submit": (("submit",), True, "manifest.json", "declarations.csv", "images"),
    "select": (SELECT, True, "selection.json", "selected.csv", "images"),
    "export": (("export",), False, "export_manifest.json", "ann.csv", "parquet"),
    "report": (("report", "--no-docs"), False, "report.json", "scores.html", "thumbs"),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_outputs")
    warehouse, config, summary, _ = built_sample(root, "scorers: [technical]\n",
                                                 rows=200, seed=31)
    return SimpleNamespace(root=root, warehouse=warehouse, config=config,
                           source=summary.db_path)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot(root: Path, outside_of: Path) -> dict[str, str]:
    """sha256 (or link target) of every file and link under root, except under
    `outside_of`."""
    seen = {}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if here == outside_of or here.is_relative_to(outside_of):
            dirs[:] = []
            continue
        for name in files + [d for d in dirs if (here / d).is_symlink()]:
            path = here / name
            if path == outside_of:
                continue
            seen[str(path)] = (f"-> {os.readlink(path)}" if path.is_symlink()
                               else _sha(path))
    return seen


def _run(site, command: str, out: Path, *, again: bool = False) -> int:
    args, has_force, *_ = COMMANDS[command]
    return _cli(site.warehouse, site.config, *args, "--out", str(out),
                *(("--force",) if again and has_force else ()))


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _forge(out: Path, record: str, entries: dict) -> None:
    """Add `entries` to the files of DIR's record, as a hostile or damaged manifest
    (with its sha256s right: only the path rules stop them). The manifest's list of
    file names (submit's "files") gets them too: what submit trusted before records."""
    data = json.loads((out / record).read_text())
    data.setdefault("outputs", {"files": {}})["files"].update(entries)
    if isinstance(data.get("files"), list):
        data["files"] += list(entries)
    (out / record).write_text(json.dumps(data))


@pytest.mark.parametrize("command", list(COMMANDS))
def test_hostile_entries_of_the_record_are_left_alone(site, command, capsys):
    args, _, record, _, _ = COMMANDS[command]
    out = site.root / f"entries-{command}"
    assert _run(site, command, out) == 0
    victim = site.root / f"victim-{command}"
    victim.mkdir()
    secret = victim / "secret.jpg"
    secret.write_bytes(b"the team's own picture")
    digest = _sha(secret)
    (out / "linked").symlink_to(victim, target_is_directory=True)
    (out / "folder").mkdir()
    (out / "folder" / "inside.txt").write_text("mine")
    (out / "stale.txt").write_text("written by the last run")
    _forge(out, record, {
        str(secret): digest,                          # an absolute path
        f"../victim-{command}/secret.jpg": digest,    # out of DIR by ..
        "linked/secret.jpg": digest,                  # through a symbolic link
        "folder": digest,                             # a folder
        "stale.txt": _sha(out / "stale.txt"),         # a file the last run wrote: goes
    })
    before = _snapshot(site.root, out)
    capsys.readouterr()
    assert _run(site, command, out, again=True) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert _snapshot(site.root, out) == before  # the source and every file outside DIR
    assert _sha(secret) == digest and _sha(site.source) == before[str(site.source)]
    assert (out / "linked").is_symlink() and (out / "folder" / "inside.txt").is_file()
    assert not (out / "stale.txt").exists()
    told = [line for line in _lines(captured.err) if "alone" in line]
    assert len(told) == 4, captured.err
    for entry in (str(secret), "../victim-", "linked/secret.jpg", "'folder'"):
        assert sum(entry in line for line in told) == 1, (entry, told)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_file_changed_since_is_kept_and_said_in_one_line(site, command, capsys):
    _, _, record, rewritten, _ = COMMANDS[command]
    out = site.root / f"changed-{command}"
    assert _run(site, command, out) == 0
    (out / rewritten).write_text("edited by hand")
    (out / "old.txt").write_text("written by the last run")
    _forge(out, record, {"old.txt": _sha(out / "old.txt")})
    (out / "old.txt").write_text("edited by hand since")
    capsys.readouterr()
    assert _run(site, command, out, again=True) == 0
    err = capsys.readouterr().err
    assert (out / rewritten).read_text() == "edited by hand"
    assert (out / "old.txt").read_text() == "edited by hand since"
    kept = [line for line in _lines(err) if " kept " in line]
    assert len(kept) == 2 and any(rewritten in line for line in kept), err
    # Kept files are the user's now: not in the record, never replaced later either.
    files = json.loads((out / record).read_text())["outputs"]["files"]
    assert rewritten not in files and "old.txt" not in files


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_symbolic_link_where_a_folder_is_written_is_never_followed(site, command, capsys):
    *_, folder = COMMANDS[command]
    out = site.root / f"folder-link-{command}"
    victim = site.root / f"folder-victim-{command}"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    out.mkdir()
    (out / folder).symlink_to(victim, target_is_directory=True)
    # A first run into a DIR with a link of the same name: refused (not empty, no record).
    before = _snapshot(site.root, out)
    assert _run(site, command, out) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no record" in err, err
    # A DIR a previous run wrote, its folder swapped for a link.
    (out / folder).unlink()
    assert _run(site, command, out) == 0
    shutil.rmtree(out / folder, ignore_errors=True)
    (out / folder).symlink_to(victim, target_is_directory=True)
    before = _snapshot(site.root, out)
    capsys.readouterr()
    code = _run(site, command, out, again=True)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code != 0:  # it had something to write there: refused in one line
        line = [x for x in _lines(err) if "error" in x]
        assert len(line) == 1 and "symbolic link" in line[0], err
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert _snapshot(site.root, out) == before


@pytest.mark.parametrize("command", list(COMMANDS))
def test_dirs_of_the_warehouse_and_foreign_dirs_are_refused(site, command, capsys):
    _, _, record, _, _ = COMMANDS[command]
    dbt_dir = dbt_work_dir(site.warehouse)
    target = dbt_dir / "target"
    assert (target / "manifest.json").is_file()
    copy = site.root / f"target-copy-{command}"
    shutil.copytree(target, copy)
    # A DIR holding only a link named as the record, to a real record elsewhere.
    linked = site.root / f"record-link-{command}"
    real_run = site.root / f"real-{command}"
    assert _run(site, command, real_run) == 0
    linked.mkdir()
    (linked / record).symlink_to(real_run / record)
    cases = [
        (dbt_dir / "new-output", "belongs to the warehouse"),
        (target, "belongs to the warehouse"),
        (site.root, "holds the warehouse"),
        (copy, "no record"),
        (linked, "no record"),
    ]
    for out, message in cases:
        before = _snapshot(site.root, site.root / "nothing")
        capsys.readouterr()
        assert _run(site, command, out, again=True) == 1, out
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, (out, err)
        assert _snapshot(site.root, site.root / "nothing") == before, out
    assert not (dbt_dir / "new-output").exists()


def test_a_submit_pack_dir_in_a_copy_of_dbt_target_keeps_dbt_manifest(site, capsys):
    copy = site.root / "dbt-target-copy"
    shutil.copytree(dbt_work_dir(site.warehouse) / "target", copy)
    manifest = _sha(copy / "manifest.json")
    assert _run(site, "submit", copy, again=True) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no record" in err
    assert _sha(copy / "manifest.json") == manifest


def test_records_carry_a_sha256_for_every_file_written(site):
    for command, (_, _, record, _, _) in COMMANDS.items():
        out = site.root / f"recorded-{command}"
        assert _run(site, command, out) == 0
        files = json.loads((out / record).read_text())["outputs"]["files"]
        on_disk = {str(p.relative_to(out)) for p in out.rglob("*")
                   if p.is_file() and p.name != record}
        assert set(files) == on_disk, command
        assert all(_sha(out / name) == digest for name, digest in files.items())
        # A second run replaces its own files (the report: its caches reused).
        assert _run(site, command, out, again=True) == 0
