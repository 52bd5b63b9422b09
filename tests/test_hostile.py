"""Nothing a user types or a source holds can destroy data or reach outside: parts 1, 2
and 5 of the issue, and the recorded-base fix, on one 200-row sample warehouse built
through the CLI (the module's one build; no test changes it).

- `neurostock sql` is read-only in fact (part 1): no statement a user types writes a
  file or a database, attaches, installs or loads anything, or changes a setting; one
  statement per call. Every attack runs on a copy of the warehouse, beside the real
  SQLite source it was built from, through the CLI; afterwards the warehouse still
  opens with the same row counts and bytes, and the source file's sha256 is unchanged.
- Commands that replace a previous output (`submit --force`, `select --force`,
  `export`, `report`) remove or overwrite only files inside DIR that the previous run
  recorded with their sha256 (neurostock.core.outputs): every hostile entry of a
  record, a changed file, a foreign or warehouse-owned DIR is told in one line and left
  alone (part 2). They run on a copy of the warehouse (with its dbt target), their DIRs
  beside it.
- The rating app and `submit` read a recorded file under the roots `images sync` read
  it from, `images: base` included: a base outside the source's folder is not refused
  (the recorded-base fix; its own small source, ingested only).
- The rating app and `submit` hand on only the files `images sync` checked (part 5): a
  file swapped for a link (to /etc/passwd, to a picture outside the roots, to a 300 MB
  file) or grown since is refused at the moment of use; request bodies are capped
  before they are read; long digit ids are 404, not 500; every response carries the
  CSP and nosniff; the page logs nothing in the browser's console. The real
  `neurostock rate` (uvicorn) on 127.0.0.1 over real HTTP, on a copy of the warehouse
  (it writes ratings and holds its file); `submit` on another copy. These tests swap
  and grow the sample's own image files: they come last in the module.

The other parts: tests/test_hostile_paths.py (relative image paths in the source),
tests/test_hostile_ingest.py (invalid UTF-8 in the source) and
tests/test_hostile_processes.py (children die with their parent). The first two edit
their sources before the build, each its own way: their warehouses are not this one.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from PIL import Image

from neurostock.core.config import load_config
from neurostock.core.errors import NeurostockError
from neurostock.core.paths import dbt_work_dir, index_dir
from neurostock.deliver.query import check_query, sealed_connection
from neurostock.images.recorded import FileRefused, FileRules, read_recorded
from tests.conftest import built_sample, copy_warehouse, query, run_cli, sha256_of
from tests.source_builder import image_row, make_source

ROOT = Path(__file__).resolve().parents[1]
# The rating app's submission gate (submit packs what it says) and the technical scorer
# (`select --score technical_sharpness`).
CONFIG = ("submission:\n  policy: adobe_stock\n  overrides: {min_megapixels: 0.01}\n"
          "scorers: [technical]\n")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The module's one warehouse: a 200-row sample built through the CLI under root
    (root/sample, root/neurostock.yml, root/warehouse.duckdb). Tests read it or copy it;
    none writes it."""
    root = tmp_path_factory.mktemp("hostile")
    warehouse, config, summary, _ = built_sample(root, CONFIG, rows=200, seed=43)
    return SimpleNamespace(root=root, warehouse=warehouse, config=config,
                           source=summary.db_path, sample=summary.db_path.parent)


# ================================================================== part 1: `sql`

@pytest.fixture(scope="module")
def sql_built(built):
    """The built warehouse, its real source file, a second warehouse (to attach), and the
    row counts and sha256s to compare against."""
    warehouse, source = built.warehouse, built.source
    other = copy_warehouse(warehouse, built.root / "other" / "warehouse.duckdb")
    return (warehouse, source, other, _counts(warehouse), sha256_of(warehouse),
            sha256_of(source), sha256_of(other))


@pytest.fixture
def target(sql_built, tmp_path):
    """A copy of the built warehouse (each attack gets its own) and the real source file,
    with the table counts and sha256s to compare against."""
    warehouse, source, _other, counts, wh_sha, src_sha, _ = sql_built
    copy = copy_warehouse(warehouse, tmp_path / "wh" / "warehouse.duckdb")
    assert sha256_of(copy) == wh_sha
    return copy, source, counts, wh_sha, src_sha


def _counts(warehouse) -> dict[str, int]:
    """Rows of every table (one connection); the warehouse must open."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute("select schema_name, table_name from duckdb_tables() "
                             "where schema_name in ('raw', 'main', 'meta', 'files')").fetchall()
        return {f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0]
                for s, t in tables}
    finally:
        con.close()


def _sql(warehouse, text: str, capsys) -> tuple[int, str, str]:
    rc = run_cli(warehouse, "none", "sql", text)
    out = capsys.readouterr()
    return rc, out.out, out.err


ATTACKS = [
    # (what the user types, with {wh} the warehouse and {src} the source; what the
    # one-line refusal names)
    ("copy (select 'x' as x) to '{wh}' (format csv)", "COPY"),
    ("copy (select 1 as x) to '{dir}/out.csv'", "COPY"),
    ("attach '{src}' as v (type sqlite, read_write); "
     "insert into v.metadata values (1, 'x', 1, 1); select 1", "ATTACH"),
    ("attach '{src}' as v (type sqlite)", "ATTACH"),
    ("attach '{other}' as o", "ATTACH"),
    ("detach warehouse", "DETACH"),
    ("drop table full_set", "DROP"),
    ("delete from full_set", "DELETE"),
    ("update full_set set rating = 1", "UPDATE"),
    ("insert into full_set select * from full_set", "INSERT"),
    ("create table main.x as select 1 as a", "CREATE"),
    ("create or replace view full_set as select 1 as a", "CREATE"),
    ("alter table full_set rename to gone", "ALTER"),
    ("with a as (select 1) delete from full_set", "DELETE"),
    ("select 1; copy (select 1) to '{dir}/three.csv'; select 3", "COPY (statement 2 of 3)"),
    ("select 1; select 2", "one statement per call"),
    ("install httpfs", "INSTALL"),
    ("load vss", "LOAD"),
    ("set enable_external_access = true", "SET"),
    ("reset lock_configuration", "RESET"),
    ("use memory", "USE"),
    ("pragma enable_profiling", "PRAGMA"),
    ("export database '{dir}/exported'", "EXPORT"),
    ("copy from database warehouse to other", "COPY FROM DATABASE"),
    ("checkpoint", "CHECKPOINT"),
    ("call pragma_version()", "CALL"),
    ("vacuum", "VACUUM"),
    ("begin transaction", "BEGIN"),
    ("explain analyze copy (select 1) to '{dir}/explained.csv'", "EXPLAIN"),
    ("/* a comment first */ install httpfs", "INSTALL"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("attack", "named"), ATTACKS, ids=[a[1] + ":" + a[0][:30]
                                                            for a in ATTACKS])
def test_every_attack_is_refused_and_changes_nothing(sql_built, target, capsys, attack, named):
    warehouse, source, counts, wh_sha, src_sha = target
    other, other_sha = sql_built[2], sql_built[6]
    text = attack.format(wh=warehouse, src=source, dir=warehouse.parent, other=other)

    rc, out, err = _sql(warehouse, text, capsys)

    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurostock: error: "), err
    assert (named if named.startswith("one ") else f"refused {named}") in lines[0]
    assert "Traceback" not in err and out == ""
    # Nothing changed: the warehouse's bytes and rows, the source, the other warehouse,
    # and no file was written beside them.
    assert sha256_of(warehouse) == wh_sha
    assert _counts(warehouse) == counts
    assert sha256_of(source) == src_sha
    assert sha256_of(other) == other_sha
    assert sorted(p.name for p in warehouse.parent.iterdir()) == [
        "warehouse.duckdb", "warehouse.duckdb.dbt"]


@pytest.mark.slow
def test_reading_outside_files_is_refused(target, capsys):
    warehouse, source, counts, wh_sha, _ = target
    for text in ("select * from read_csv('/etc/passwd')",
                 f"select * from read_text('{source}')",
                 f"select * from sqlite_scan('{source}', 'metadata')",
                 f"select count(*) from read_parquet('{warehouse}')",
                 "select * from glob('/etc/*')"):
        rc, out, err = _sql(warehouse, text, capsys)
        assert rc == 1 and len(err.strip().splitlines()) == 1, (text, err)
        assert err.startswith("neurostock: error: sql"), err
        assert "/etc/passwd" not in out and "root:" not in out
    assert sha256_of(warehouse) == wh_sha and _counts(warehouse) == counts


@pytest.mark.slow
def test_reads_stay_as_rich_as_before(target, capsys):
    warehouse, _source, counts, wh_sha, _ = target
    n_full = counts["main.full_set"]
    reads = {
        "select count(*) as n from full_set": str(n_full),
        "from full_set select count(*) as n": str(n_full),
        "select table_name from duckdb_tables() where table_name = 'full_set'": "full_set",
        "select image_id, rank() over (order by rating desc, image_id) as r from full_set "
        "order by r limit 1": "1",
        "with r as (select rating, count(*) as n from full_set group by all) "
        "select sum(n) as total from r": str(n_full),
        "describe full_set": "image_id",
        "pragma table_info(full_set)": "image_id",
        "show tables": "ann",
        "summarize select rating from full_set": "rating",
        "explain select count(*) from full_set": "physical_plan",
        "explain analyze select count(*) from full_set": "analyzed_plan",
        "select count(*) as n from raw.img_info": "200",
        "select current_setting('enable_external_access') as ext": "false",
        "-- a comment\nselect 42 as answer;": "42",
    }
    for text, expected in reads.items():
        rc, out, err = _sql(warehouse, text, capsys)
        assert rc == 0, (text, err)
        assert expected in out, (text, out)
    assert sha256_of(warehouse) == wh_sha


@pytest.mark.slow
def test_an_error_while_reading_is_one_line(target, capsys):
    """DuckDB runs a select lazily, while printing it: its errors are one line too."""
    warehouse = target[0]
    for text in ("select error('boom')", "select * from no_such_table", "selec 1", ""):
        rc, out, err = _sql(warehouse, text, capsys)
        assert rc == 1 and "Traceback" not in err, (text, err)
        assert len(err.strip().splitlines()) == 1 and err.startswith("neurostock: error: sql")


@pytest.mark.slow
def test_the_connection_itself_refuses_writes(target):
    """DuckDB's own guards, below the statement check: the sealed connection cannot
    write, attach, install, load, read another file or set its settings back."""
    warehouse, source, counts, wh_sha, src_sha = target
    with sealed_connection(warehouse) as con:
        assert con.execute("select count(*) from full_set").fetchone()[0] == \
            counts["main.full_set"]
        for text in (f"copy (select 1 as x) to '{warehouse.parent}/x.csv'",
                     f"attach '{source}' as v (type sqlite, read_write)",
                     "install httpfs", "load sqlite_scanner",
                     "set enable_external_access = true", "set lock_configuration = false",
                     "set threads = 1", "drop table full_set",
                     "select * from read_csv('/etc/passwd')"):
            with pytest.raises(duckdb.Error):
                con.execute(text)
    assert sha256_of(warehouse) == wh_sha and sha256_of(source) == src_sha
    assert not (warehouse.parent / "x.csv").exists()


def test_the_statement_check_names_what_it_refuses():
    assert check_query("select 1") == "select 1"
    assert check_query("explain select 1") == "explain select 1"
    for text, named in (("copy t to 'x.csv'", "refused COPY"),
                        ("install vss", "refused INSTALL"),
                        ("set threads = 1", "refused SET"),
                        ("pragma enable_profiling", "refused PRAGMA"),
                        ("explain copy (select 1) to 'x'", "refused EXPLAIN"),
                        ("select 1; select 2", "one statement per call"),
                        ("   ", "no statement")):
        with pytest.raises(NeurostockError, match=named):
            check_query(text)


# ================================================================== part 2: outputs

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
def out_site(built):
    """A copy of the warehouse, with its dbt folder and dbt's target (the commands write
    their records and caches; the tests write into the target): root, the copy's folder,
    holds the DIRs the tests write. `top`, the build's folder, holds everything else (the
    source, the config, the built warehouse, the copy): the snapshots cover it all."""
    warehouse = copy_warehouse(built.warehouse,
                               built.root / "outputs" / built.warehouse.name)
    shutil.copytree(dbt_work_dir(built.warehouse) / "target",
                    dbt_work_dir(warehouse) / "target")
    return SimpleNamespace(root=warehouse.parent, top=built.root, warehouse=warehouse,
                           config=built.config, source=built.source)


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


def _run(out_site, command: str, out: Path, *, again: bool = False) -> int:
    args, has_force, *_ = COMMANDS[command]
    return run_cli(out_site.warehouse, out_site.config, *args, "--out", str(out),
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


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMANDS))
def test_hostile_entries_of_the_record_are_left_alone(out_site, command, capsys):
    args, _, record, _, _ = COMMANDS[command]
    out = out_site.root / f"entries-{command}"
    assert _run(out_site, command, out) == 0
    victim = out_site.root / f"victim-{command}"
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
    before = _snapshot(out_site.top, out)
    capsys.readouterr()
    assert _run(out_site, command, out, again=True) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert _snapshot(out_site.top, out) == before  # the source and every file outside DIR
    assert _sha(secret) == digest and _sha(out_site.source) == before[str(out_site.source)]
    assert (out / "linked").is_symlink() and (out / "folder" / "inside.txt").is_file()
    assert not (out / "stale.txt").exists()
    told = [line for line in _lines(captured.err) if "alone" in line]
    assert len(told) == 4, captured.err
    for entry in (str(secret), "../victim-", "linked/secret.jpg", "'folder'"):
        assert sum(entry in line for line in told) == 1, (entry, told)


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_file_changed_since_is_kept_and_said_in_one_line(out_site, command, capsys):
    _, _, record, rewritten, _ = COMMANDS[command]
    out = out_site.root / f"changed-{command}"
    assert _run(out_site, command, out) == 0
    (out / rewritten).write_text("edited by hand")
    (out / "old.txt").write_text("written by the last run")
    _forge(out, record, {"old.txt": _sha(out / "old.txt")})
    (out / "old.txt").write_text("edited by hand since")
    capsys.readouterr()
    assert _run(out_site, command, out, again=True) == 0
    err = capsys.readouterr().err
    assert (out / rewritten).read_text() == "edited by hand"
    assert (out / "old.txt").read_text() == "edited by hand since"
    kept = [line for line in _lines(err) if " kept " in line]
    assert len(kept) == 2 and any(rewritten in line for line in kept), err
    # Kept files are the user's now: not in the record, never replaced later either.
    files = json.loads((out / record).read_text())["outputs"]["files"]
    assert rewritten not in files and "old.txt" not in files


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_symbolic_link_where_a_folder_is_written_is_never_followed(out_site, command, capsys):
    *_, folder = COMMANDS[command]
    out = out_site.root / f"folder-link-{command}"
    victim = out_site.root / f"folder-victim-{command}"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    out.mkdir()
    (out / folder).symlink_to(victim, target_is_directory=True)
    # A first run into a DIR with a link of the same name: refused (not empty, no record).
    before = _snapshot(out_site.top, out)
    assert _run(out_site, command, out) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no record" in err, err
    # A DIR a previous run wrote, its folder swapped for a link.
    (out / folder).unlink()
    assert _run(out_site, command, out) == 0
    shutil.rmtree(out / folder, ignore_errors=True)
    (out / folder).symlink_to(victim, target_is_directory=True)
    before = _snapshot(out_site.top, out)
    capsys.readouterr()
    code = _run(out_site, command, out, again=True)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code != 0:  # it had something to write there: refused in one line
        line = [x for x in _lines(err) if "error" in x]
        assert len(line) == 1 and "symbolic link" in line[0], err
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert _snapshot(out_site.top, out) == before


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMANDS))
def test_dirs_of_the_warehouse_and_foreign_dirs_are_refused(out_site, command, capsys):
    _, _, record, _, _ = COMMANDS[command]
    dbt_dir = dbt_work_dir(out_site.warehouse)
    target = dbt_dir / "target"
    assert (target / "manifest.json").is_file()
    copy = out_site.root / f"target-copy-{command}"
    shutil.copytree(target, copy)
    # A DIR holding only a link named as the record, to a real record elsewhere.
    linked = out_site.root / f"record-link-{command}"
    real_run = out_site.root / f"real-{command}"
    assert _run(out_site, command, real_run) == 0
    linked.mkdir()
    (linked / record).symlink_to(real_run / record)
    cases = [
        (dbt_dir / "new-output", "belongs to the warehouse"),
        (target, "belongs to the warehouse"),
        (index_dir(out_site.warehouse) / "pack", "belongs to the warehouse"),
        (out_site.root, "holds the warehouse"),
        (copy, "no record"),
        (linked, "no record"),
    ]
    for out, message in cases:
        before = _snapshot(out_site.top, out_site.top / "nothing")
        capsys.readouterr()
        assert _run(out_site, command, out, again=True) == 1, out
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, (out, err)
        assert _snapshot(out_site.top, out_site.top / "nothing") == before, out
    assert not (dbt_dir / "new-output").exists()


@pytest.mark.slow
def test_a_submit_pack_dir_in_a_copy_of_dbt_target_keeps_dbt_manifest(out_site, capsys):
    copy = out_site.root / "dbt-target-copy"
    shutil.copytree(dbt_work_dir(out_site.warehouse) / "target", copy)
    manifest = _sha(copy / "manifest.json")
    assert _run(out_site, "submit", copy, again=True) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no record" in err
    assert _sha(copy / "manifest.json") == manifest


@pytest.mark.slow
def test_records_carry_a_sha256_for_every_file_written(out_site):
    for command, (_, _, record, _, _) in COMMANDS.items():
        out = out_site.root / f"recorded-{command}"
        assert _run(out_site, command, out) == 0
        files = json.loads((out / record).read_text())["outputs"]["files"]
        on_disk = {str(p.relative_to(out)) for p in out.rglob("*")
                   if p.is_file() and p.name != record}
        assert set(files) == on_disk, command
        assert all(_sha(out / name) == digest for name, digest in files.items())
        # A second run replaces its own files (the report: its caches reused).
        assert _run(out_site, command, out, again=True) == 0


# ================================================================== CSV injection

# Text a spreadsheet would run (OWASP's CSV-injection list), one per leading character.
FORMULAS = ['=HYPERLINK("http://evil.example/a")&A1', "+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]


@pytest.mark.slow
def test_no_csv_cell_of_any_command_starts_like_a_formula(built, tmp_path):
    """Hostile text in every text column the CSV files of export, select, submit and
    the ratings export take (prompts, names, paths, titles, keywords, an annotator's
    name), on a copy of the warehouse: no cell of any CSV written starts with `=`, `+`,
    `-`, `@`, tab or CR, except plain numbers; each hostile value is there, as text."""
    warehouse = copy_warehouse(built.warehouse, tmp_path / "wh" / built.warehouse.name)
    con = duckdb.connect(str(warehouse))
    hostile = "list_extract(?, (image_id % 6)::int + 1)"
    for table, columns in {"nessesary_files": ["img_name"], "ann": ["img_name", "prompt_raw"],
                           "full_set": ["prompt"], "big_set": ["img_name", "prompt_raw"],
                           "pool": ["prompt"]}.items():
        sets = ", ".join(f"{c} = {hostile}" for c in columns)
        con.execute(f"update {table} set {sets}", [FORMULAS] * len(columns))
    # Three images the gate passes, with hostile titles and keywords.
    con.execute(f"""
        update submission_decisions set verdict = 'submit', title = {hostile},
               keywords = [{hostile}, 'cat']
        where image_id in (select image_id from submission_decisions d
                           join files.images f using (image_id)
                           where f.status = 'ok' order by image_id limit 3)""",
                [FORMULAS, FORMULAS])
    con.execute("insert into annotations.annotators values (900, '=evil()', false, now())")
    con.execute("""insert into annotations.ratings values
        (1, (select min(image_id) from pool), 3, null, 900, '=evil()', now(), '@queue', 's')""")
    con.close()
    outs = {name: tmp_path / name for name in ("export", "select", "submit")}
    assert run_cli(warehouse, built.config, "export", "--out", str(outs["export"])) == 0
    assert run_cli(warehouse, built.config, *SELECT, "--out", str(outs["select"])) == 0
    assert run_cli(warehouse, built.config, "submit", "--out", str(outs["submit"])) == 0
    ratings = tmp_path / "ratings" / "ratings.sqlite"
    assert run_cli(warehouse, built.config, "ratings", "export", "--out", str(ratings)) == 0

    cells: dict[str, list[str]] = {}
    for path in sorted(tmp_path.rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            cells[str(path.relative_to(tmp_path))] = [c for row in csv.reader(fh) for c in row]
    for name in ("export/ann.csv", "export/full_set.csv", "export/big_set.csv",
                 "export/nessesary_files.csv", "select/selected.csv",
                 "submit/adobe_stock.csv", "ratings/ratings.csv"):
        assert name in cells, sorted(cells)
    number = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
    for name, found in cells.items():
        bad = [c for c in found if c.startswith(("=", "+", "-", "@", "\t", "\r"))
               and not number.fullmatch(c)]
        assert not bad, (name, bad[:5])
    everything = [c for found in cells.values() for c in found]
    for formula in FORMULAS[:4]:
        assert "'" + formula in everything, formula
    assert "'=evil()" in cells["ratings/ratings.csv"]
    assert "'@queue" in cells["ratings/ratings.csv"]


# ================================================================== the recorded base

def test_a_file_under_the_configured_base_outside_the_source_folder_is_read(tmp_path):
    """The rating app and `submit` read a recorded file under the roots `images sync`
    read it from, `images: base` included: a base outside the source's folder is not
    refused."""
    (tmp_path / "source").mkdir()
    source = make_source(tmp_path / "source" / "core.download.db",
                         [image_row(i) for i in range(1, 3)], [(3, "2022-10-23", 1, 1)])
    pictures = tmp_path / "pictures"  # not inside the source's folder
    pictures.mkdir()
    picture = pictures / "1.png"
    Image.new("RGB", (8, 8), "red").save(picture)
    config = tmp_path / "neurostock.yml"
    config.write_text("images: {base: pictures}\n")
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    assert run_cli(warehouse, config, "ingest", str(source)) == 0
    images = load_config(config).images
    info = os.stat(picture)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rules = FileRules.from_config(con, images)
    finally:
        con.close()
    assert rules.roots == (os.path.realpath(pictures),)
    assert read_recorded(str(picture), info.st_size, info.st_mtime_ns, rules) \
        == picture.read_bytes()
    # The source's folder is no root of its own once a base is configured, as for the sync.
    stray = Path(source).parent / "stray.png"
    Image.new("RGB", (8, 8), "blue").save(stray)
    with pytest.raises(FileRefused, match="outside the allowed roots"):
        read_recorded(str(stray), stray.stat().st_size, stray.stat().st_mtime_ns, rules)


# ================================================================== part 5: the rating app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REQUIRED = {"content-security-policy", "x-content-type-options"}


@pytest.fixture(scope="module")
def rate_site(built):
    """The rating queue's images with their files (the sample's own: these tests swap
    and grow them); a copy of the warehouse for the app, which writes ratings into it
    and holds it; another for `submit`, made before the app opens its own."""
    root = built.root
    warehouse = copy_warehouse(built.warehouse, root / "rate" / built.warehouse.name)
    queue = query(warehouse, """
        select q.image_id, f.resolved_path from rpt_rating_queue q
        join files.images f using (image_id) where f.status = 'ok' order by q.queue_rank""")
    assert len(queue) > 30
    pack_copy = copy_warehouse(built.warehouse, root / "pack_copy" / built.warehouse.name)
    return {"root": root, "warehouse": warehouse, "config": built.config, "queue": queue,
            "pack_copy": pack_copy, "sample": built.sample}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app(rate_site):
    """`neurostock rate` as a child process; (port, its log file) while it runs."""
    port = _free_port()
    log = rate_site["root"] / "rate.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "neurostock.cli", "--warehouse", str(rate_site["warehouse"]),
             "--config", str(rate_site["config"]), "rate", "--port", str(port),
             "--annotator", "mallory"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if _get(port, "/")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the app did not start: {log.read_text()}")
            time.sleep(0.2)
        yield port, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        connection.close()


def _session(port: int) -> tuple[str, str]:
    """A browser session's cookie and CSRF token, from the page."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        cookie = response.getheader("set-cookie").split(";")[0]
        page = response.read().decode()
    finally:
        connection.close()
    return cookie, re.search(r'data-csrf="([^"]+)"', page).group(1)


def _raw_exchange(port: int, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a request head and some body parts, never the rest; the response the
    server sends meanwhile (its head at least), or what came before it hung up."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                data = sock.recv(65536)
                if not data:
                    break
                received += data
        except ConnectionResetError:
            pass
        except TimeoutError:
            raise AssertionError("no response within 30 s: the server waits for the rest "
                                 f"of the body (got {received[:200]!r})") from None
    return received


def _head(raw: bytes) -> tuple[int, dict]:
    lines = raw.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def _log_lines(log: Path, words: str) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if words in line]


def _swap_for_link(path: str, target: Path) -> None:
    """Replace the file at `path` by a symlink to `target` (one rename: no moment without
    a file)."""
    link = Path(path + ".swap")
    link.symlink_to(target)
    os.replace(link, path)


# ------------------------------------------------------------------ files at request time

@pytest.mark.slow
def test_a_file_swapped_for_a_link_to_etc_passwd_is_404_with_one_log_line(rate_site, app):
    port, log = app
    image_id, path = rate_site["queue"][1]
    status, headers, body = _get(port, f"/image/{image_id}")
    assert status == 200 and body == Path(path).read_bytes()
    assert headers["content-type"] == "image/jpeg"
    _swap_for_link(path, Path("/etc/passwd"))
    status, headers, body = _get(port, f"/image/{image_id}")
    assert status == 404 and b"root:" not in body
    assert REQUIRED <= set(headers)
    lines = _log_lines(log, f"image {image_id} not served")
    assert len(lines) == 1 and "outside the allowed roots" in lines[0], lines
    # A link to a picture outside the roots: refused the same way.
    image_id, path = rate_site["queue"][2]
    secret = rate_site["root"] / "outside" / "secret.jpg"
    secret.parent.mkdir(exist_ok=True)
    shutil.copyfile(path, secret)
    _swap_for_link(path, secret)
    assert _get(port, f"/image/{image_id}")[0] == 404
    assert len(_log_lines(log, f"image {image_id} not served")) == 1


@pytest.mark.slow
def test_a_file_grown_past_its_recorded_size_or_linked_to_a_huge_one_is_404(rate_site, app):
    port, log = app
    image_id, path = rate_site["queue"][3]
    assert _get(port, f"/image/{image_id}")[0] == 200
    with open(path, "ab") as handle:
        handle.write(b"\0" * 4096)
    status, _, body = _get(port, f"/image/{image_id}")
    assert status == 404 and len(body) < 1000
    assert "changed since" in _log_lines(log, f"image {image_id} not served")[0]
    # A link, inside the roots, to a 300 MB (sparse) file: not one byte of it is sent.
    image_id, path = rate_site["queue"][4]
    huge = rate_site["sample"] / "huge.jpg"
    with open(huge, "wb") as handle:
        handle.truncate(300_000_000)
    _swap_for_link(path, huge)
    status, _, body = _get(port, f"/image/{image_id}")
    assert status == 404 and len(body) < 1000
    assert len(_log_lines(log, f"image {image_id} not served")) == 1


@pytest.mark.slow
def test_a_huge_body_is_refused_before_it_is_read(app):
    port, _ = app
    cookie, token = _session(port)
    common = (f"POST /api/rate HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
              f"Origin: http://127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
              f"X-CSRF-Token: {token}\r\nContent-Type: application/json\r\n")
    start = b'{"image_id": 1, "rating": 3, "pad": "' + b"x" * 8000
    # A declared 50 MB, of which 8 KB are ever sent.
    raw = _raw_exchange(port, (common + "Content-Length: 50000000\r\n\r\n").encode(), [start])
    status, headers = _head(raw)
    assert status == 413 and REQUIRED <= set(headers), raw[:300]
    # No length declared: chunks, never a last one; refused once past the cap.
    chunks = [b"%x\r\n%s\r\n" % (1000, b"x" * 1000) for _ in range(5)]
    raw = _raw_exchange(port, (common + "Transfer-Encoding: chunked\r\n\r\n").encode(), chunks)
    assert _head(raw)[0] == 413, raw[:300]


@pytest.mark.slow
def test_long_digit_ids_are_404_not_500(rate_site, app):
    port, log = app
    long_id = "9" * 5000
    for path in (f"/image/{long_id}", f"/?i={long_id}", "/image/" + "1" * 19,
                 "/image/-1", "/image/1e3", f"/?i={len(rate_site['queue']) + 1}"):
        status, headers, _ = _get(port, path)
        assert status == 404, (path[:30], status)
        assert REQUIRED <= set(headers)
    assert _get(port, "/?i=abc")[0] == 400
    assert "Traceback" not in log.read_text(errors="replace")


@pytest.mark.slow
def test_every_response_carries_the_csp_and_nosniff(rate_site, app):
    port, _ = app
    image_id, path = rate_site["queue"][0]
    responses = {
        "page": _get(port, "/"),
        "image": _get(port, f"/image/{image_id}"),
        "css": _get(port, "/static/rate.css"),
        "js": _get(port, "/static/rate.js"),
        "favicon": _get(port, "/favicon.ico"),
        "icon": _get(port, "/static/favicon.svg"),
        "no static": _get(port, "/static/nothing.css"),
        "no route": _get(port, "/nowhere"),
        "no image": _get(port, "/image/0"),
        "bad host": _get(port, "/", {"Host": "evil.example"}),
    }
    expected = {"page": 200, "image": 200, "css": 200, "js": 200, "favicon": 200,
                "icon": 200, "no static": 404, "no route": 404, "no image": 404,
                "bad host": 400}
    assert {k: r[0] for k, r in responses.items()} == expected
    csp = responses["page"][1]["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    for name, (_, headers, _) in responses.items():
        assert headers.get("content-security-policy") == csp, name
        assert headers.get("x-content-type-options") == "nosniff", name
    assert responses["favicon"][1]["content-type"].startswith("image/svg+xml")
    assert 'rel="icon" href="/static/favicon.svg"' in responses["page"][2].decode()


# ------------------------------------------------------------------ the page, in Chromium

@pytest.mark.slow
def test_the_page_logs_no_console_error_in_chromium(rate_site, app):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian chromium + chromium-driver are not installed "
                    "(scripts/test.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    port, _ = app
    profile = tempfile.mkdtemp(prefix="neurostock-hostile-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--no-first-run", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        entries = []
        # Two pages, each to its image's end: the first page's favicon request has long
        # been answered when the second page has loaded.
        for position in (0, 5):
            driver.get(f"http://127.0.0.1:{port}/?i={position}")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not driver.execute_script(
                    "const i = document.getElementById('image');"
                    "return document.readyState === 'complete' && i && i.complete"):
                time.sleep(0.05)
            assert driver.execute_script(
                "return document.getElementById('image').naturalWidth") > 0
            entries += driver.get_log("browser")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    assert entries == [], entries


# ------------------------------------------------------------------ submit

@pytest.mark.slow
def test_submit_refuses_a_swapped_or_grown_file_and_says_so(rate_site, capsys):
    """On a copy of the warehouse whose gate says submit (three images) and upscale
    (one): the unchanged image is packed; the one swapped for a link to a picture
    outside the roots and the one grown since `images sync` are not copied, and the
    manifest and the progress output name them."""
    pool = [r[0] for r in query(rate_site["pack_copy"], """
        select image_id from submission_decisions where image_set = 'pool'
        order by image_id""")]
    used = {image_id for image_id, _ in rate_site["queue"][:6]}
    paths = dict(rate_site["queue"])
    chosen = [i for i in pool if i not in used and i in paths][:4]
    assert len(chosen) == 4
    honest, swapped, grown, upscale = chosen
    con = duckdb.connect(str(rate_site["pack_copy"]))
    try:
        con.execute("update submission_decisions set verdict = 'reject', "
                    "needs_upscaling_only = false")
        con.execute("update submission_decisions set verdict = 'submit' "
                    "where image_id in (?, ?, ?)", [honest, swapped, grown])
        con.execute("update submission_decisions set verdict = 'hold', "
                    "needs_upscaling_only = true, upscale_factor = 2 where image_id = ?",
                    [upscale])
    finally:
        con.close()
    secret = rate_site["root"] / "outside_pack" / "secret.jpg"
    secret.parent.mkdir()
    Image.new("RGB", (300, 300), (200, 0, 0)).save(secret)
    _swap_for_link(paths[swapped], secret)
    for image_id in (grown, upscale):
        with open(paths[image_id], "ab") as handle:
            handle.write(b"\0" * 2048)
    out = rate_site["root"] / "pack"
    capsys.readouterr()
    assert run_cli(rate_site["pack_copy"], rate_site["config"], "submit", "--out", str(out)) == 0
    printed = capsys.readouterr()
    packed = sorted(p.name for p in (out / "images").iterdir())
    assert len(packed) == 1 and packed[0].endswith(f"-{honest}.jpg"), packed
    assert not (out / "to_upscale").exists() or not any((out / "to_upscale").iterdir())
    notes = {n["image_id"]: n["note"]
             for n in json.loads((out / "manifest.json").read_text())["pack"]["notes"]}
    assert "outside the allowed roots" in notes[swapped]
    assert "changed since" in notes[grown] and "changed since" in notes[upscale]
    for image_id in (swapped, grown, upscale):
        assert f"image {image_id} not packed" in printed.err
    assert "3 source files refused" in printed.out
