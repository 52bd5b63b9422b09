"""The research team's prompt cleaning, in plain Python: the oracle for the SQL macro."""

from __future__ import annotations

import re
import string

_PUNCTUATION_RUN = re.compile("([" + re.escape(string.punctuation) + r"])\1+")


def team_clean_prompt(prompt: str | None) -> str | None:
    """Prefix off, first line only, punctuation runs collapsed, `_` -> space, stripped."""
    if prompt is None:
        return None
    text = re.sub(r"^[0-9]+_", "", prompt)
    text = re.split(r"[\r\n]", text, maxsplit=1)[0]
    text = _PUNCTUATION_RUN.sub(r"\1", text)
    return text.replace("_", " ").strip()
