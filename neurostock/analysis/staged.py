"""Rows a dbt Python model computes in batches, held by DuckDB instead of Python.

A model that computes its rows in numpy batches appends each batch to a temporary
table and returns that table: DuckDB holds the rows (and spills them past its memory
limit), not this process, which never has more than a batch in hand. The model's
post-hook drops the table (`drop table if exists temp.<name>`)."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from neurostock.core.progress import say


def stage(session, name: str, schema: pa.Schema, batches: Iterable[tuple[pa.Table, int]],
          *, label: str, unit: str = "image vectors", every: int = 100_000) -> int:
    """Append every (table, n_items) of `batches` to the temporary table `name` (made
    anew) with computed_at (the transaction's now(), as a SQL model stamps it); one
    progress line each `every` items. Returns the number of items."""
    batch_view = f"{name}__batch"
    session.register(batch_view, schema.empty_table())
    try:
        session.execute(f"create or replace temp table {name} as "
                        f"select *, now() as computed_at from {batch_view}")
    finally:
        session.unregister(batch_view)
    items = 0
    for table, n_items in batches:
        session.register(batch_view, table.cast(schema))
        try:
            session.execute(f"insert into {name} select *, now() as computed_at "
                            f"from {batch_view}")
        finally:
            session.unregister(batch_view)
        if items // every != (items + n_items) // every:
            say(f"{label}: {items + n_items:,} {unit} computed")
        items += n_items
    return items
