"""The tables Python steps write and dbt reads as sources: one definition each.

Every `ensure_*` creates its schema and table when missing and never touches existing
rows; `ensure_step_tables` creates them all (the dbt plugin calls it, so the committed
dbt project builds before any Python step has run).
"""

from __future__ import annotations

import duckdb

IMAGES_DDL = """
create schema if not exists files;
create table if not exists files.images (
    image_id bigint primary key,
    set_name varchar,
    img_path varchar,
    resolved_path varchar,
    status varchar not null,
    status_detail varchar,
    bytes bigint,
    sha256 varchar,
    width integer,
    height integer,
    format varchar,
    mode varchar,
    dataset_path varchar,
    dataset_sha256 varchar,
    checked_at timestamptz,
    file_size bigint,
    file_mtime_ns bigint
);
-- Tables made before the (size, mtime) check get its columns (empty: read once more).
alter table files.images add column if not exists file_size bigint;
alter table files.images add column if not exists file_mtime_ns bigint;
"""

EMBEDDING_MODELS_DDL = """
create schema if not exists meta;
create table if not exists meta.embedding_models (
    embedder_id varchar primary key,
    library varchar not null,
    library_version varchar,
    model varchar not null,
    pretrained varchar,
    weights_path varchar,
    weights_sha256 varchar,
    quick_gelu boolean,
    preprocessing varchar,
    dim integer not null,
    kinds varchar[] not null,
    is_random_init boolean not null,
    is_imported boolean not null,
    fingerprint varchar not null,
    registered_at timestamptz not null default current_timestamp
);
"""

SCORERS_DDL = """
create schema if not exists meta;
create table if not exists meta.scorers (
    scorer_id varchar primary key,
    kind varchar not null check (kind in ('imported', 'computed', 'learned')),
    source_file varchar,
    source_sha256 varchar,
    version varchar,
    higher_is varchar not null,
    expected_min double,
    expected_max double,
    is_valid boolean not null,
    invalid_reason varchar,
    n_scored bigint,
    description varchar,
    created_at timestamptz not null default current_timestamp
);
"""

AESTHETIC_HEADS_DDL = """
create schema if not exists meta;
create table if not exists meta.aesthetic_heads (
    head_id varchar primary key,
    clip_model varchar not null,
    clip_pretrained varchar not null,
    dim integer not null,
    weights float[] not null,
    bias double not null,
    source_file varchar not null,
    source_sha256 varchar not null,
    licence varchar not null,
    higher_is varchar not null,
    description varchar
);
"""

LEARNED_MODELS_DDL = """
create schema if not exists meta;
create table if not exists meta.learned_models (
    scorer_id varchar primary key,
    model varchar not null,
    model_path varchar not null,
    model_sha256 varchar not null,
    config json not null,
    features json not null,
    data_sha256 varchar not null,
    n_train integer not null,
    fold_scheme varchar not null,
    metrics json not null,
    is_shuffled boolean not null,
    sklearn_version varchar not null,
    trained_at timestamptz not null
);
"""

PIPELINE_RUNS_DDL = """
create schema if not exists meta;
create table if not exists meta.pipeline_runs (
    run_id uuid primary key,
    step varchar not null,
    target_id varchar,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    n_computed bigint not null,
    n_skipped bigint not null,
    n_failed bigint not null,
    detail varchar
);
"""


# The rating app's ratings (rate/): append-only. Undo appends a retraction (rating
# NULL, retracts_rating_id = the rating it takes back); nothing is updated or deleted.
# annotator_id is the source's user id for a known name (raw.user), else a new id
# recorded in annotations.annotators.
RATINGS_DDL = """
create schema if not exists annotations;
create table if not exists annotations.annotators (
    annotator_id bigint primary key,
    name varchar not null unique,
    is_source_user boolean not null,
    created_at timestamptz not null
);
create table if not exists annotations.ratings (
    rating_id bigint primary key,
    image_id bigint not null,
    rating integer check (rating between 1 and 5),
    retracts_rating_id bigint,
    annotator_id bigint not null,
    annotator varchar not null,
    rated_at timestamptz not null,
    queue varchar not null,
    app_session varchar not null,
    check ((rating is null) = (retracts_rating_id is not null))
);
create table if not exists annotations.learning_curve (
    scorer_id varchar not null,
    fraction double not null,
    repeat integer not null,
    n_ratings integer not null,
    n_groups integer not null,
    spearman double,
    seed integer not null,
    folds integer not null,
    model varchar not null,
    computed_at timestamptz not null,
    primary key (scorer_id, fraction, repeat)
);
-- The decision model's out-of-fold AUC of sellable (learn/learning_curve.py); added
-- after the table first shipped, so older warehouses get it here.
alter table annotations.learning_curve add column if not exists auc_sellable double;
-- The rating queue replayed on known ratings (learn/queue_simulation.py): one row per
-- (learned model, arm, seed, round), measured on the seed's held-out test set.
create table if not exists annotations.queue_simulation (
    scorer_id varchar not null,
    arm varchar not null check (arm in ('queue', 'random')),
    seed integer not null,
    round integer not null,
    n_rated integer not null,
    n_test integer not null,
    auc_sellable double,
    spearman double,
    batch integer not null,
    start_share double not null,
    test_share double not null,
    model varchar not null,
    computed_at timestamptz not null,
    primary key (scorer_id, arm, seed, round)
);
"""


# Source values that were not valid UTF-8 (neurostock ingest writes them into raw.* with
# their bad bytes escaped): one row per source row of the newest load, naming its
# columns. Staging quarantines those rows (stg_meta__load_invalid_text).
LOAD_INVALID_TEXT_DDL = """
create schema if not exists meta;
create table if not exists meta.load_invalid_text (
    load_id bigint not null,
    table_name varchar not null,
    source_rowid bigint not null,
    column_names varchar[] not null,
    primary key (table_name, source_rowid)
);
"""


def ensure_images_table(con: duckdb.DuckDBPyConnection) -> None:
    """`files.images`: one row per image file the marts need (written by images sync)."""
    con.execute(IMAGES_DDL)


def ensure_embedding_models_table(con: duckdb.DuckDBPyConnection) -> None:
    """`meta.embedding_models`: the embedder registry."""
    con.execute(EMBEDDING_MODELS_DDL)


def ensure_scorers_table(con: duckdb.DuckDBPyConnection) -> None:
    """`meta.scorers`: the scorer registry.

    A table made before learned scorers existed has a narrower kind check: it is
    rebuilt with the same rows (DuckDB cannot alter a CHECK constraint)."""
    con.execute(SCORERS_DDL)
    old = con.execute(
        "select count(*) from duckdb_constraints() where schema_name = 'meta' "
        "and table_name = 'scorers' and constraint_type = 'CHECK' "
        "and constraint_text like '%computed%' and constraint_text not like '%learned%'"
    ).fetchone()[0]
    if old:
        con.execute("alter table meta.scorers rename to scorers_before_learned")
        con.execute(SCORERS_DDL)
        con.execute("insert into meta.scorers select * from meta.scorers_before_learned")
        con.execute("drop table meta.scorers_before_learned")


def ensure_heads_table(con: duckdb.DuckDBPyConnection) -> None:
    """`meta.aesthetic_heads`: the shipped heads' effective linear weights."""
    con.execute(AESTHETIC_HEADS_DDL)


def ensure_learned_models_table(con: duckdb.DuckDBPyConnection) -> None:
    """`meta.learned_models`: provenance of every trained model."""
    con.execute(LEARNED_MODELS_DDL)


def ensure_runs_table(con: duckdb.DuckDBPyConnection) -> None:
    """`meta.pipeline_runs`: one row per run of a Python step."""
    con.execute(PIPELINE_RUNS_DDL)


def ensure_ratings_table(con: duckdb.DuckDBPyConnection) -> None:
    """`annotations.ratings` and `annotations.annotators` (the rating app's ratings) and
    `annotations.learning_curve` (learn/learning_curve.py) and
    `annotations.queue_simulation` (learn/queue_simulation.py)."""
    con.execute(RATINGS_DDL)


# The submission ledger (neurostock/submit/ledger.py): append-only, one row per image a
# pack holds (event 'packed', written once the pack's files are) and one per pack taken
# back before upload (event 'withdrawn', image_id null). Nothing updates or deletes it.
SUBMISSIONS_DDL = """
create schema if not exists annotations;
create table if not exists annotations.submissions (
    pack_id varchar not null,
    event varchar not null check (event in ('packed', 'withdrawn')),
    recorded_at timestamptz not null,
    policy varchar not null,
    policy_version integer,
    image_id bigint,
    file_name varchar,
    file_sha256 varchar,
    title varchar,
    keywords varchar[],
    category_id integer,
    motif varchar,
    out_dir varchar,
    check ((event = 'packed') = (image_id is not null))
);
"""


def ensure_submissions_table(con: duckdb.DuckDBPyConnection) -> None:
    """`annotations.submissions`: what every pack sent (neurostock/submit/ledger.py)."""
    con.execute(SUBMISSIONS_DDL)


OUTCOMES_DDL = """
create schema if not exists annotations;
create table if not exists annotations.outcomes (
    import_id varchar not null,
    imported_at timestamptz not null,
    source_file varchar not null,
    source_sha256 varchar not null,
    line_no integer not null,
    image_id bigint not null,
    pack_id varchar not null,
    file_name varchar not null,
    status varchar check (status in ('accepted', 'rejected', 'pending')),
    rejection_reason varchar,
    downloads bigint check (downloads >= 0),
    earnings decimal(18, 4) check (earnings >= 0),
    outcome_date date
);
create table if not exists annotations.outcomes_quarantine (
    import_id varchar not null,
    imported_at timestamptz not null,
    source_file varchar not null,
    source_sha256 varchar not null,
    line_no integer not null,
    problem varchar not null check (problem in ('unknown_file', 'duplicate', 'unparsable')),
    detail varchar not null,
    raw_row varchar not null
);
"""


def ensure_outcomes_tables(con: duckdb.DuckDBPyConnection) -> None:
    """`annotations.outcomes` and its quarantine: the market's answer
    (neurostock/submit/outcomes.py)."""
    con.execute(OUTCOMES_DDL)


def ensure_load_invalid_text_table(con: duckdb.DuckDBPyConnection) -> None:
    """`meta.load_invalid_text`: the source rows whose text was not valid UTF-8 (ingest)."""
    con.execute(LOAD_INVALID_TEXT_DDL)


def ensure_step_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Every table above."""
    for ensure in (ensure_images_table, ensure_embedding_models_table, ensure_runs_table,
                   ensure_scorers_table, ensure_heads_table, ensure_learned_models_table,
                   ensure_ratings_table, ensure_submissions_table,
                   ensure_outcomes_tables, ensure_load_invalid_text_table):
        ensure(con)
