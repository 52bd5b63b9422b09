"""The rating app's side of the warehouse: the queue it serves, the annotator's id, and
the append-only writes to `annotations.ratings` (a rating, or the retraction undo
appends). One process holds the connection and the writer lock (`neurostock rate`);
inside it, one thread lock orders the writes of concurrent browser sessions."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from neurostock.core.errors import NeurostockError
from neurostock.core.meta import ensure_ratings_table

QUEUES = ("active", "random")
# `--queue random`: the control, a seeded random sample of the same pool.
RANDOM_SEED = 42


@dataclass(frozen=True)
class QueueItem:
    """One image the app may show: its id, cleaned prompt and checked file, with what
    files.images recorded of the file (served only while it still matches)."""

    image_id: int
    prompt: str
    path: Path
    file_size: int | None = None
    file_mtime_ns: int | None = None
    format: str | None = None


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(con.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
        [schema, name]).fetchone()[0] or con.execute(
        "select count(*) from duckdb_views() where schema_name = ? and view_name = ?",
        [schema, name]).fetchone()[0])


def load_queue(con: duckdb.DuckDBPyConnection, queue: str, size: int) -> list[QueueItem]:
    """The images to rate, in order: `rpt_rating_queue` (queue `active`) or a seeded
    random sample of the pool's unrated images with a readable file (`random`).
    Images already rated in the app (and not taken back) are left out."""
    if queue not in QUEUES:
        raise NeurostockError(f"unknown queue {queue!r}: use one of {', '.join(QUEUES)}")
    needed = ("rpt_rating_queue", "pool") if queue == "active" else ("pool", "image_ratings")
    for table in needed:
        if not _has_table(con, "main", table):
            raise NeurostockError(f"the warehouse has no `{table}`: run `neurostock build` "
                                  "first")
    if not _has_table(con, "files", "images"):
        raise NeurostockError("the warehouse has no files.images: run `neurostock build` first")
    rated_here = """
        select image_id from annotations.ratings r
        where r.retracts_rating_id is null
          and r.rating_id not in (select retracts_rating_id from annotations.ratings
                                  where retracts_rating_id is not null)"""
    if queue == "active":
        sql = f"""
            select q.image_id, coalesce(b.prompt, ''), f.resolved_path, f.file_size,
                   f.file_mtime_ns, f.format
            from rpt_rating_queue q
            join pool b using (image_id)
            join files.images f using (image_id)
            where f.status = 'ok' and q.image_id not in ({rated_here})
            order by q.queue_rank
            limit ?"""
    else:
        sql = f"""
            select b.image_id, coalesce(b.prompt, ''), f.resolved_path, f.file_size,
                   f.file_mtime_ns, f.format
            from pool b
            join files.images f using (image_id)
            where f.status = 'ok' and b.source_rating is null
              and b.image_id not in (select image_id from image_ratings)
              and b.image_id not in ({rated_here})
            order by md5('{RANDOM_SEED}/' || b.image_id), b.image_id
            limit ?"""
    rows = con.execute(sql, [size]).fetchall()
    return [QueueItem(int(i), str(p), Path(f), size, mtime, fmt)
            for i, p, f, size, mtime, fmt in rows]


def resolve_annotator(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """The annotator id for `name`: the one the app gave it before; else the source's
    user of that name (raw.user); else the number itself for a numeric name; else a
    new id above every id in use. Recorded in annotations.annotators."""
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise NeurostockError("--annotator must be a printable name of 1-100 characters")
    known = con.execute("select annotator_id from annotations.annotators where name = ?",
                        [name]).fetchone()
    if known:
        return int(known[0])
    source_id = None
    if _has_table(con, "raw", "user"):
        row = con.execute("select min(try_cast(id as bigint)) from raw.user where name = ?",
                          [name]).fetchone()
        source_id = row[0] if row else None
    if source_id is None and name.isdigit():
        source_id = int(name)
    if source_id is not None:
        annotator_id, is_source_user = int(source_id), True
    else:
        highest = [con.execute("select coalesce(max(annotator_id), 0) "
                               "from annotations.annotators").fetchone()[0]]
        if _has_table(con, "raw", "user"):
            highest.append(con.execute("select coalesce(max(try_cast(id as bigint)), 0) "
                                       "from raw.user").fetchone()[0])
        if _has_table(con, "raw", "metadata"):
            highest.append(con.execute("select coalesce(max(try_cast(annotator_id as bigint)),"
                                       " 0) from raw.metadata").fetchone()[0])
        annotator_id, is_source_user = int(max(highest)) + 1, False
    clash = con.execute("select name from annotations.annotators where annotator_id = ?",
                        [annotator_id]).fetchone()
    if clash:
        raise NeurostockError(f"annotator id {annotator_id} of {name!r} is already "
                              f"{clash[0]!r} in annotations.annotators")
    con.execute("insert into annotations.annotators values (?, ?, ?, ?)",
                [annotator_id, name, is_source_user, datetime.now(UTC)])
    return annotator_id


class RatingStore:
    """Writes of one app run: ratings and retractions, never an update or a delete."""

    def __init__(self, con: duckdb.DuckDBPyConnection, annotator: str, queue: str):
        ensure_ratings_table(con)
        self.con = con
        self.annotator = annotator.strip()
        self.annotator_id = resolve_annotator(con, annotator)
        self.queue = queue
        self._lock = threading.Lock()

    def rate(self, image_id: int, rating: int, session: str) -> int:
        """Append one rating (1-5) by this annotator; its rating_id."""
        if type(rating) is not int or not 1 <= rating <= 5:
            raise NeurostockError(f"rating must be 1-5, not {rating!r}")
        with self._lock:
            return self._append(image_id, rating, None, session)

    def undo(self, session: str) -> tuple[int, int] | None:
        """Retract the browser session's last rating still standing: (rating_id, image_id)
        of the rating taken back, or None when there is none."""
        with self._lock:
            row = self.con.execute("""
                select rating_id, image_id from annotations.ratings
                where app_session = ? and retracts_rating_id is null
                  and rating_id not in (select retracts_rating_id from annotations.ratings
                                        where retracts_rating_id is not null)
                order by rating_id desc limit 1""", [session]).fetchone()
            if row is None:
                return None
            self._append(int(row[1]), None, int(row[0]), session)
            return int(row[0]), int(row[1])

    def standing(self) -> dict[int, int]:
        """image_id -> the latest rating standing in the app (any session)."""
        rows = self.con.execute("""
            select image_id, arg_max(rating, rating_id) from annotations.ratings
            where retracts_rating_id is null
              and rating_id not in (select retracts_rating_id from annotations.ratings
                                    where retracts_rating_id is not null)
            group by image_id""").fetchall()
        return {int(i): int(r) for i, r in rows}

    def _append(self, image_id: int, rating: int | None, retracts: int | None,
                session: str) -> int:
        self.con.execute("begin transaction")
        try:
            rating_id = self.con.execute(
                "select coalesce(max(rating_id), 0) + 1 from annotations.ratings").fetchone()[0]
            self.con.execute(
                "insert into annotations.ratings values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [rating_id, image_id, rating, retracts, self.annotator_id, self.annotator,
                 datetime.now(UTC), self.queue, session])
            self.con.execute("commit")
        except BaseException:
            self.con.execute("rollback")
            raise
        return int(rating_id)
