"""`neurostock sql` is read-only in fact: no statement a user types writes a file or a
database, attaches, installs or loads anything, or changes a setting; one statement per
call. Every attack runs on a copy of a real built warehouse, beside the real SQLite
source it was built from, through the CLI; afterwards the warehouse still opens with
the same row counts and bytes, and the source file's sha256 is unchanged."""

from __future__ import annotations

import duckdb
import pytest

from neurostock.core.errors import NeurostockError
from neurostock.deliver.query import check_query, sealed_connection
from tests.conftest import built_sample, copy_warehouse, run_cli, sha256_of


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The built warehouse, its real source file, a second warehouse (to attach), and the
    row counts and sha256s to compare against."""
    root = tmp_path_factory.mktemp("hostile_sql")
    warehouse, _config, summary, _ = built_sample(root, "", rows=200, seed=11)
    other = copy_warehouse(warehouse, root / "other" / "warehouse.duckdb")
    return (warehouse, summary.db_path, other, _counts(warehouse), sha256_of(warehouse),
            sha256_of(summary.db_path), sha256_of(other))


@pytest.fixture
def target(built, tmp_path):
    """A copy of the built warehouse (each attack gets its own) and the real source file,
    with the table counts and sha256s to compare against."""
    warehouse, source, _other, counts, wh_sha, src_sha, _ = built
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
def test_every_attack_is_refused_and_changes_nothing(built, target, capsys, attack, named):
    warehouse, source, counts, wh_sha, src_sha = target
    other, other_sha = built[2], built[6]
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
