"""The market's answer: `neurostock submissions import FILE`.

A marketplace's status and sales lists (CSV) come back into the warehouse, matched to
the ledger (annotations.submissions) by file name: what was accepted, rejected and why,
what sold. Tables (neurostock.core.meta.OUTCOMES_DDL), append-only:

- `annotations.outcomes`: one row per list row that matched a packed image: the file
  name, the image and pack it names, status (accepted / rejected / pending), rejection
  reason, downloads, earnings, the date the list gives, and which import brought it.
- `annotations.outcomes_quarantine`: every row that could not be used, with its line,
  the problem and the row as read: a file name no pack holds, a second row for one file
  and date, a status or number that does not parse. Counted and reported, never dropped.

The template (docs/submission.md): `Filename,Status,Reason,Downloads,Earnings,Date`;
`--map COLUMN=FIELD` names another list's columns (a portal's "Original filename",
"Content status", ...). Downloads and earnings are the totals to the row's date, as a
portal's list shows them: the mart `submission_outcomes` takes the latest row per image.
A row already imported (same file name, status, reason, numbers and date) is not added
again, so importing one file twice, or two lists that overlap, changes nothing twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from neurostock.core.errors import NeurostockError
from neurostock.core.meta import ensure_outcomes_tables
from neurostock.core.warehouse import connect, resolve_warehouse
from neurostock.submit.ledger import live_packed

FIELDS = ("file_name", "status", "rejection_reason", "downloads", "earnings", "date")
# The template's columns, and the names portals commonly use, for each field (any case,
# spaces and underscores alike).
ALIASES = {
    "file_name": ("filename", "file name", "file", "original filename", "original file name"),
    "status": ("status", "content status", "review status"),
    "rejection_reason": ("reason", "rejection reason", "rejection reasons", "comment"),
    "downloads": ("downloads", "download count", "licenses", "sales"),
    "earnings": ("earnings", "revenue", "royalties", "amount"),
    "date": ("date", "status date", "sale date", "updated", "last updated"),
}
STATUSES = {
    "accepted": "accepted", "approved": "accepted", "online": "accepted",
    "published": "accepted", "rejected": "rejected", "declined": "rejected",
    "not accepted": "rejected", "pending": "pending", "in review": "pending",
    "submitted": "pending", "under review": "pending", "new": "pending",
}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y", "%m/%d/%Y", "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%d %H:%M:%S", "%b %d, %Y", "%d %b %Y")
MAX_BYTES = 200_000_000


@dataclass
class ImportSummary:
    import_id: str
    rows: int = 0
    added: int = 0
    already: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def n_quarantined(self) -> int:
        return sum(self.quarantined.values())


def _norm(name: str) -> str:
    return re.sub(r"[\s_]+", " ", name.strip().lower())


def parse_map(pairs: list[str] | None) -> dict[str, str]:
    """`--map COLUMN=FIELD` pairs as {column: field}; one-line errors."""
    mapping = {}
    for pair in pairs or []:
        column, sep, target = pair.rpartition("=")
        if not sep or not column.strip() or target.strip() not in FIELDS:
            raise NeurostockError(f"--map {pair!r}: write COLUMN=FIELD, FIELD one of "
                                  f"{', '.join(FIELDS)}")
        mapping[column.strip()] = target.strip()
    return mapping


def columns_of(header: list[str], mapping: dict[str, str], source: Path) -> dict[str, int]:
    """{field: column index}: `--map` first, then the template's names and aliases."""
    by_norm = {_norm(h): i for i, h in enumerate(header)}
    found: dict[str, int] = {}
    for column, target in mapping.items():
        if _norm(column) not in by_norm:
            raise NeurostockError(f"{source}: --map names column {column!r}, which the "
                                  f"header does not have ({', '.join(header)})")
        found[target] = by_norm[_norm(column)]
    for target, names in ALIASES.items():
        if target in found:
            continue
        for name in (target, *names):
            if _norm(name) in by_norm and by_norm[_norm(name)] not in found.values():
                found[target] = by_norm[_norm(name)]
                break
    if "file_name" not in found:
        raise NeurostockError(f"{source}: no file name column (header: {', '.join(header)}); "
                              "use --map COLUMN=file_name")
    if "status" not in found and "downloads" not in found and "earnings" not in found:
        raise NeurostockError(f"{source}: no status, downloads or earnings column (header: "
                              f"{', '.join(header)}); use --map COLUMN=status")
    return found


def _number(text: str, kind: type) -> int | Decimal | None:
    cleaned = re.sub(r"[\s$€£]", "", text)
    if not cleaned:
        return None
    if kind is int:
        if not re.fullmatch(r"\d+", cleaned):
            raise ValueError(f"not a whole number: {text!r}")
        return int(cleaned)
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")  # 1,25 as written in much of Europe
    cleaned = cleaned.replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"not an amount: {text!r}")
    return value


def _date(text: str) -> date | None:
    if not text.strip():
        return None
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: {text!r}")


def parse_row(cells: list[str], columns: dict[str, int]) -> dict:
    """One list row as fields; ValueError naming the first cell that does not parse."""
    def cell(name: str) -> str:
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    status_text = cell("status")
    status = STATUSES.get(_norm(status_text)) if status_text else None
    if status_text and status is None:
        raise ValueError(f"unknown status {status_text!r} (known: "
                         f"{', '.join(sorted(set(STATUSES)))})")
    return {
        "file_name": cell("file_name"),
        "status": status,
        "rejection_reason": cell("rejection_reason") or None,
        "downloads": _number(cell("downloads"), int),
        "earnings": _number(cell("earnings"), Decimal),
        "outcome_date": _date(cell("date")),
    }


def import_outcomes(warehouse: str | Path | None, path: str | Path,
                    mapping: dict[str, str] | None = None) -> ImportSummary:
    """Read the list at `path` and append its rows (see the module docstring). The
    caller holds the writer lock (the CLI does)."""
    source = Path(path).expanduser()
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise NeurostockError(f"{source}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise NeurostockError(f"{source}: {len(data):,} bytes, more than a status list has "
                              f"({MAX_BYTES:,})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NeurostockError(f"{source}: not UTF-8 text (byte {exc.start}); save the list "
                              "as UTF-8 CSV") from None
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = next(reader, None)
    if not header:
        raise NeurostockError(f"{source}: empty file (no header row)")
    columns = columns_of(header, mapping or {}, source)
    digest = hashlib.sha256(data).hexdigest()
    now = datetime.now(UTC)
    summary = ImportSummary(import_id=f"{now:%Y%m%dT%H%M%SZ}-{digest[:8]}",
                            columns={f: header[i] for f, i in columns.items()})
    target = resolve_warehouse(warehouse)
    with connect(target) as con:
        ensure_outcomes_tables(con)
        packed = _packed_names(con)
        seen = {tuple(r) for r in con.execute(
            "select file_name, status, rejection_reason, downloads, earnings, outcome_date "
            "from annotations.outcomes").fetchall()}
        quarantined_before = {r[0] for r in con.execute(
            "select line_no from annotations.outcomes_quarantine where source_sha256 = ?",
            [digest]).fetchall()}
        good, bad = [], []
        in_file: set[tuple] = set()
        for line_no, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            summary.rows += 1
            problem = None
            try:
                row = parse_row(cells, columns)
            except ValueError as exc:
                problem, row = ("unparsable", str(exc)), None
            if row is not None:
                name = row["file_name"]
                key = (name, row["outcome_date"])
                if not name:
                    problem = ("unknown_file", "no file name")
                elif name not in packed:
                    problem = ("unknown_file", f"{name!r} is in no pack of the ledger")
                elif key in in_file:
                    problem = ("duplicate", f"a second row for {name!r} on "
                                            f"{row['outcome_date'] or 'no date'}")
                else:
                    in_file.add(key)
            if problem is not None:
                kind, detail = problem
                summary.quarantined[kind] = summary.quarantined.get(kind, 0) + 1
                if line_no not in quarantined_before:
                    bad.append((summary.import_id, now, str(source), digest, line_no, kind,
                                detail, json.dumps(dict(zip(header, cells, strict=False)),
                                                   ensure_ascii=False)))
                continue
            values = (row["file_name"], row["status"], row["rejection_reason"],
                      row["downloads"], row["earnings"], row["outcome_date"])
            if values in seen:
                summary.already += 1
                continue
            seen.add(values)
            image_id, pack_id = packed[row["file_name"]]
            good.append((summary.import_id, now, str(source), digest, line_no, image_id,
                         pack_id, *values))
        con.execute("begin transaction")
        if good:
            con.executemany("insert into annotations.outcomes values "
                            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", good)
        if bad:
            con.executemany("insert into annotations.outcomes_quarantine values "
                            "(?, ?, ?, ?, ?, ?, ?, ?)", bad)
        con.execute("commit")
    summary.added = len(good)
    return summary


def _packed_names(con) -> dict[str, tuple[int, str]]:
    """File name -> (image id, pack id) of the newest pack not withdrawn that sent it."""
    return {name: (image_id, pack) for name, image_id, pack, _ in live_packed(con, "file_name")}
