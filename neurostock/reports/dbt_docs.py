"""dbt's documentation in the report: DIR/dbt-docs/, dbt's own static page (lineage
included) copied with its usage tracker neutralised, so the report opens offline and
fetches nothing. The page comes from the caller (neurostock.build.docs.DbtDocs): the
report copies, it does not run dbt.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from neurostock.core.warehouse import connect


def copy_dbt_docs(target: Path, out: Path, docs, progress: Callable[[str], None]) -> str:
    """dbt's own documentation (lineage included) as one static page, DIR/dbt-docs/;
    regenerated only when `docs.fingerprint` changed. `docs` comes from the caller
    (neurostock.build.docs.DbtDocs): the report copies, it does not run dbt."""
    docs_dir = out / "dbt-docs"
    stamp = docs_dir / ".fingerprint"
    with connect(target, read_only=True) as con:
        # A page copied before the tracker was neutralised is not reused.
        fingerprint = f"{docs.fingerprint(con)} {_OFFLINE_DOCS}"
    if (docs_dir / "index.html").exists() and stamp.exists() \
            and stamp.read_text() == fingerprint:
        return "unchanged"
    progress("dbt docs generate --static")
    source = docs.generate()
    docs_dir.mkdir(exist_ok=True)
    page = offline_docs_page(source.read_text(encoding="utf-8"))
    (docs_dir / "index.html").write_text(page, encoding="utf-8")
    stamp.write_text(fingerprint)
    return "generated"


# dbt's docs page carries dbt Labs' usage tracker: a script it would fetch from a CDN
# (snowplow's sp.js) and the collector it would post to. dbt only turns it on when the
# project sends usage stats (ours does not), but a report that is opened offline must
# not even name something to fetch: the addresses become empty strings, and the
# function that would load the tracker returns at once.
_OFFLINE_DOCS = "offline-1"
_TRACKER_ADDRESS = re.compile(
    r"""(["'])[^"'\n]*(?:d1fc8wv8zag5ca\.cloudfront\.net|sinter-collect\.com)[^"'\n]*\1""")
_TRACKER_ON = "turn_on_tracking:function(){"


def offline_docs_page(html: str) -> str:
    """dbt's static docs page with its usage tracker neutralised (see above)."""
    html = _TRACKER_ADDRESS.sub('""', html)
    return html.replace(_TRACKER_ON, _TRACKER_ON + "return;")
