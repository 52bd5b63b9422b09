"""dbt's documentation in the report: DIR/dbt-docs/, dbt's own static page (lineage
included) copied with its usage tracker neutralised, so the report opens offline and
fetches nothing. The page comes from the caller (neurostock.build.docs.DbtDocs): the
report copies, it does not run dbt.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from neurostock.core.outputs import Outputs
from neurostock.core.warehouse import connect

DOCS_DIR = "dbt-docs"


def copy_dbt_docs(target: Path, outputs: Outputs, docs,
                  progress: Callable[[str], None]) -> str:
    """dbt's own documentation (lineage included) as one static page, DIR/dbt-docs/;
    regenerated only when `docs.fingerprint` changed. `docs` comes from the caller
    (neurostock.build.docs.DbtDocs): the report copies, it does not run dbt. Written
    through the report's `outputs` (neurostock.core.outputs)."""
    page_name, stamp_name = f"{DOCS_DIR}/index.html", f"{DOCS_DIR}/.fingerprint"
    with connect(target, read_only=True) as con:
        # A page copied before the tracker was neutralised is not reused.
        fingerprint = f"{docs.fingerprint(con)} {_OFFLINE_DOCS}"
    if outputs.reuse(page_name) and outputs.reuse(stamp_name) \
            and (outputs.root / stamp_name).read_text() == fingerprint:
        return "unchanged"
    progress("dbt docs generate --static")
    source = docs.generate()
    page = offline_docs_page(source.read_text(encoding="utf-8"))
    outputs.write(page_name, page.encode("utf-8"))
    outputs.write(stamp_name, fingerprint.encode("utf-8"))
    return "generated"


# dbt's docs page carries dbt Labs' usage tracker: a script it would fetch from a CDN
# (snowplow's sp.js) and the collector it would post to. dbt only turns it on when the
# project sends usage stats (ours does not), but a report that is opened offline must
# not even name something to fetch: the addresses become empty strings, and the
# function that would load the tracker returns at once.
_OFFLINE_DOCS = "offline-2"
_TRACKER_ADDRESS = re.compile(
    r"""(["'])[^"'\n]*(?:d1fc8wv8zag5ca\.cloudfront\.net|sinter-collect\.com)[^"'\n]*\1""")
_TRACKER_ON = "turn_on_tracking:function(){"
# Two things dbt's page asks for that do not exist, each a console error: its favicon,
# named by a build-time `${require(...)}` left in the HTML (the report's own icon
# instead), and the sidebar's icons, whose `xlink:href="{{ getIcon(...) }}"` the browser
# fetches before AngularJS fills it in (`ng-attr-` sets it only once interpolated).
_FAVICON = re.compile(r"""href=(["'])\$\{require\([^)]*favicon[^)]*\)\}\1""")
_ICON_HREF = "xlink:href=\"{{ getIcon("


def offline_docs_page(html: str) -> str:
    """dbt's static docs page with its usage tracker neutralised and nothing missing
    asked for (see above)."""
    html = _TRACKER_ADDRESS.sub('""', html)
    html = _FAVICON.sub('href="../assets/favicon.svg"', html)
    html = html.replace(_ICON_HREF, "ng-attr-" + _ICON_HREF)
    return html.replace(_TRACKER_ON, _TRACKER_ON + "return;")
