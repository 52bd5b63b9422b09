"""One style for what the project prints while it works: `[neurostock] message` lines on
stderr, and tqdm bars (on stderr, only on a terminal) for long loops."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
PREFIX = "[neurostock]"


def say(message: str) -> None:
    """One progress line on stderr."""
    print(f"{PREFIX} {message}", file=sys.stderr, flush=True)


def progress_bar(items: Iterable[T], total: int | None, label: str) -> Iterator[T]:
    """`items`, with a progress bar on a terminal (a start and an end line otherwise)."""
    from tqdm import tqdm

    if sys.stderr.isatty():
        yield from tqdm(items, total=total, desc=f"{PREFIX} {label}", unit="img",
                        file=sys.stderr, leave=False)
        return
    say(f"{label}: {total:,} to do" if total is not None else f"{label}: started")
    count = 0
    for item in items:
        count += 1
        yield item
    say(f"{label}: {count:,} done")
