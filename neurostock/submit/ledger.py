"""The submission ledger, `annotations.submissions`: what every pack sent.

Append-only (neurostock.core.meta.SUBMISSIONS_DDL): `submit` adds one `packed` row per
image of a pack, in one transaction, once every file of the pack is written and its
manifest saved (a killed `submit` leaves no row for a pack it did not finish, and the
folder's record of it says what was written); `submissions withdraw PACK_ID` adds one
`withdrawn` row for a pack that was never uploaded. Nothing updates or deletes a row.

What the ledger decides (neurostock/submit/pack.py):
- an image of a pack that is not withdrawn is never packed again, unless `submit
  --resubmit IDS` names it;
- a motif gets at most `max_versions_per_motif` images over all packs (Adobe Stock: no
  more than three significant versions of one motif; spam can close the account). An
  image's versions are the images sent or packed before it that share its prompt group
  (macro prompt_group: one prompt run with several seeds) or its group of
  near-duplicates (submission_similar_groups: perceptual hashes, and embedding cosine
  where the weights are real).
"""

from __future__ import annotations

import csv
import io
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from neurostock.core.csvsafe import safe_rows
from neurostock.core.errors import NeurostockError
from neurostock.core.fileio import write_atomically
from neurostock.core.meta import ensure_submissions_table
from neurostock.core.warehouse import connect, resolve_warehouse

COLUMNS = ("pack_id", "event", "recorded_at", "policy", "policy_version", "image_id",
           "file_name", "file_sha256", "title", "keywords", "category_id", "motif", "out_dir")


def new_pack_id() -> str:
    """`<UTC time>-<6 hex>`: sorts by time, unique without a counter."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _has_ledger(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("select count(*) from duckdb_tables() where schema_name = "
                            "'annotations' and table_name = 'submissions'").fetchone()[0])


def live_packed(con: duckdb.DuckDBPyConnection, by: str) -> list[tuple]:
    """(key, image id, pack id, motif) of the newest `packed` row per `by` (`image_id` or
    `file_name`) among the packs not withdrawn: what the ledger says was sent. Empty
    without a ledger."""
    if by not in ("image_id", "file_name"):
        raise ValueError(f"live_packed: by image_id or file_name, not {by!r}")
    if not _has_ledger(con):
        return []
    return con.execute(f"""
        select {by}, image_id, pack_id, motif from annotations.submissions
        where event = 'packed'
          and pack_id not in (select pack_id from annotations.submissions
                              where event = 'withdrawn')
        qualify row_number() over (partition by {by} order by recorded_at desc) = 1
    """).fetchall()


@dataclass
class Sent:
    """The images of packs not withdrawn: image -> (pack id, motif); `replaced`: the
    pack `submit --force` replaces in its folder, when the ledger holds it (not
    withdrawn): its images count as not sent, and it is withdrawn with the new pack."""

    images: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    replaced: str | None = None

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection, replacing: str | None = None) -> Sent:
        rows = [(r[1], r[2], r[3]) for r in live_packed(con, "image_id")]
        live = {pack for _, pack, _ in rows}
        replaced = replacing if replacing in live else None
        return cls({image_id: (pack, motif) for image_id, pack, motif in rows
                    if pack != replaced}, replaced)


class MotifBudget:
    """How many versions of an image's motif were sent or are in this pack already:
    images sharing its prompt group or its group of near-duplicates."""

    def __init__(self, sent: Sent, groups: dict[int, int | None], max_versions: int):
        self.max_versions = max_versions
        self.groups = groups
        self.by_motif: dict[str, set[int]] = defaultdict(set)
        self.by_group: dict[int, set[int]] = defaultdict(set)
        for image_id, (_pack, motif) in sent.images.items():
            self.take(image_id, motif)

    def take(self, image_id: int, motif: str | None) -> None:
        if motif:
            self.by_motif[motif].add(image_id)
        group = self.groups.get(image_id)
        if group is not None:
            self.by_group[group].add(image_id)

    def versions(self, image_id: int, motif: str | None) -> set[int]:
        found = set(self.by_motif.get(motif, ())) if motif else set()
        group = self.groups.get(image_id)
        if group is not None:
            found |= self.by_group.get(group, set())
        found.discard(image_id)
        return found


def record_pack(warehouse: Path, pack_id: str, policy: str, policy_version: int | None,
                packed: list[dict], out_dir: Path, replaced: str | None = None) -> None:
    """Append the pack's `packed` rows, and the `withdrawn` row of the pack it replaced
    in its folder (one transaction)."""
    if not packed and replaced is None:
        return
    now = datetime.now(UTC)
    with connect(warehouse) as con:
        ensure_submissions_table(con)
        con.execute("begin transaction")
        if replaced is not None:
            con.execute("insert into annotations.submissions (pack_id, event, recorded_at, "
                        "policy, out_dir) values (?, 'withdrawn', ?, ?, ?)",
                        [replaced, now, policy, str(out_dir)])
        if packed:  # a pack of nothing may still replace (withdraw) the one in its folder
            con.executemany(
                "insert into annotations.submissions values "
                "(?, 'packed', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(pack_id, now, policy, policy_version, p["image_id"], p["file_name"],
                  p["file_sha256"], p["title"], p["keywords"], p["category_id"], p["motif"],
                  str(out_dir)) for p in packed])
        con.execute("commit")


def withdraw(warehouse: str | Path | None, pack_id: str) -> int:
    """Add the `withdrawn` row of `pack_id`; how many images it held. One-line errors for
    an unknown pack and one withdrawn already."""
    target = resolve_warehouse(warehouse)
    with connect(target) as con:
        ensure_submissions_table(con)
        rows = con.execute("select event, count(*), any_value(policy) from "
                           "annotations.submissions where pack_id = ? group by event",
                           [pack_id]).fetchall()
        events = {event: (n, policy) for event, n, policy in rows}
        if "packed" not in events:
            known = [r[0] for r in con.execute(
                "select distinct pack_id from annotations.submissions "
                "order by pack_id desc limit 3").fetchall()]
            raise NeurostockError(f"no pack {pack_id!r} in the ledger (newest: "
                                  f"{', '.join(known) or 'none'})")
        if "withdrawn" in events:
            raise NeurostockError(f"pack {pack_id} is withdrawn already")
        n, policy = events["packed"]
        con.execute("insert into annotations.submissions (pack_id, event, recorded_at, "
                    "policy) values (?, 'withdrawn', ?, ?)", [pack_id, datetime.now(UTC),
                                                             policy])
    return n


def export_ledger(warehouse: str | Path | None, out: str | Path) -> int:
    """Write the whole ledger, oldest first, to the CSV `out` (a new file); rows
    written."""
    target = resolve_warehouse(warehouse)
    path = Path(out).expanduser()
    if path.exists():
        raise NeurostockError(f"{path} exists: name a new file (nothing was written)")
    with connect(target, read_only=True) as con:
        rows = con.execute(
            f"select {', '.join(COLUMNS)} from annotations.submissions "
            "order by recorded_at, pack_id, event, image_id").fetchall() \
            if _has_ledger(con) else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(safe_rows(
        [[*r[:2], r[2].isoformat() if r[2] is not None else "", *r[3:9],
          ", ".join(r[9]) if r[9] is not None else "", *r[10:]] for r in rows]))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, buffer.getvalue().encode("utf-8"))
    return len(rows)
