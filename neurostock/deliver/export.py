"""The team's files, written from the marts so their notebooks and PIA keep working."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from neurostock.core.csvsafe import safe_select
from neurostock.core.errors import NeurostockError
from neurostock.core.outputs import Outputs
from neurostock.core.warehouse import connect, resolve_warehouse, sql_string

# The export's manifest: the load it came from, rows per file, and the record of the
# files written with their sha256 (neurostock.core.outputs).
MANIFEST = "export_manifest.json"
MARTS = ("ann", "full_set", "big_set", "nessesary_files", "image_ratings", "quarantine")

# File name -> query whose columns are exactly the team's. `{prefix}` is the
# path the image lists put before all_data/ (PIA read `../beauty_predict/datasets/`).
_CSV_QUERIES = {
    "nessesary_files.csv": """
        select row_number() over (order by rating_id) - 1 as row_index,
               image_id as id, img_path, img_name, rating
        from nessesary_files order by rating_id
    """,
    # The prompt as the source stores it (prompt_raw: its `<digits>_` prefix and
    # underscores kept), as the team's ann.csv had it: their data_check copied
    # img_info's img_generation_promt.
    "ann.csv": """
        select row_number() over (order by image_id) - 1 as row_index,
               image_id as id, img_name, prompt_raw as img_generation_promt, rating
        from ann order by image_id
    """,
    # The cleaned prompt. Written from the mart full_set (ann with the rating minus 1,
    # prompt cleaned by int_prompts_cleaned), not from ann.csv: the team's notebooks
    # turned ann.csv into this same file (drop columns, clean the prompt, shift the
    # rating, add img_path), so the two files agree as theirs did
    # (tests/test_team_files.py runs those steps on the export).
    "full_set.csv": """
        select image_id as id, prompt as img_generation_promt, rating,
               dataset_img_path as img_path
        from full_set order by image_id
    """,
    "big_set.csv": """
        select image_id as id, img_path, img_name,
               generation_date_text as generation_date,
               experiment_model_id, experiment_number,
               prompt_raw as img_generation_promt
        from big_set order by sample_rank
    """,
}
# Files the team wrote with pandas' `to_csv()`: the row number (their query's
# first column, row_index) comes first, under an empty header (read back as
# "Unnamed: 0"). DuckDB cannot name a column "", so the header is written by hand.
_PANDAS_INDEXED = frozenset({"nessesary_files.csv", "ann.csv"})
_LIST_QUERIES = {
    "image_list.txt": "select ? || dataset_img_path from full_set order by image_id",
    "big_set.txt": "select img_path from big_set order by sample_rank",
}


def _missing_marts(con: duckdb.DuckDBPyConnection) -> list[str]:
    present = {
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main'"
        ).fetchall()
    }
    return [m for m in MARTS if m not in present]


def _write_pandas_indexed_csv(con: duckdb.DuckDBPyConnection, query: str,
                              target: Path) -> None:
    """Write `query` (first column: the row number) to `target` as pandas' `to_csv()`
    would: that first column under an empty header, then the others."""
    columns = [d[0] for d in con.execute(f"select * from ({query}) limit 0").description]
    body = target.with_name(target.name + ".body")
    try:
        con.execute(f"copy ({safe_select(con, query)}) to {sql_string(body)} "
                    "(format csv, header false)")
        with target.open("wb") as out, body.open("rb") as rows:
            out.write(("," + ",".join(columns[1:]) + "\n").encode("utf-8"))
            shutil.copyfileobj(rows, out)
    finally:
        body.unlink(missing_ok=True)


def export(
    out_dir: str | Path,
    warehouse: str | Path | None = None,
    image_prefix: str = "",
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Write the team's CSV/TXT files and Parquet of every mart into `out_dir`.

    Returns file name -> rows written. Each file is written beside its final
    name and moved into place, so a failed export leaves no half-written file.
    DIR is a new or empty folder, or one a previous export wrote: its
    export_manifest.json records every file with its sha256, and only those files are
    replaced, while still what it wrote (neurostock.core.outputs).
    """
    say = progress or (lambda _msg: None)
    target = resolve_warehouse(warehouse)
    written: dict[str, int] = {}
    with Outputs(out_dir, command="export", record=MANIFEST, warehouse=target,
                 say=say) as outputs, connect(target, read_only=True) as con:
        out = outputs.root
        missing = _missing_marts(con)
        if missing:
            raise NeurostockError(
                f"warehouse has no table(s) {', '.join(missing)}: run `neurostock build` first"
            )
        for name, query in _CSV_QUERIES.items():
            tmp = outputs.temp_for(name)
            if name in _PANDAS_INDEXED:
                _write_pandas_indexed_csv(con, query, tmp)
            else:
                con.execute(f"copy ({safe_select(con, query)}) to {sql_string(tmp)} "
                            "(format csv, header true)")
            outputs.place(name, tmp)
            written[name] = con.execute(f"select count(*) from ({query})").fetchone()[0]
            say(f"wrote {out / name} ({written[name]:,} rows)")
        for name, query in _LIST_QUERIES.items():
            params = [image_prefix] if "?" in query else []
            rows = con.execute(query, params).fetchall()
            lines = [r[0] if r[0] is not None else "" for r in rows]
            outputs.write(name, "".join(f"{line}\n" for line in lines).encode("utf-8"))
            written[name] = len(lines)
            say(f"wrote {out / name} ({len(lines):,} lines)")
        for mart in MARTS:
            name = f"parquet/{mart}.parquet"
            tmp = outputs.temp_for(name)
            con.execute(f"copy {mart} to {sql_string(tmp)} (format parquet)")
            outputs.place(name, tmp)
            written[name] = con.execute(f"select count(*) from {mart}").fetchone()[0]
        load = con.execute(
            "select load_id, source_path, source_sha256 from meta.loads "
            "order by load_id desc limit 1"
        ).fetchone()
        outputs.finish({
            "exported_at": datetime.now(UTC).isoformat(),
            "load_id": load[0] if load else None,
            "source_path": load[1] if load else None,
            "source_sha256": load[2] if load else None,
            "rows": written,
        })
    say(f"wrote {out / MANIFEST}")
    return written
