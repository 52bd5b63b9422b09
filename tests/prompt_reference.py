"""The research team's prompt cleaning and the prompt group, in plain Python: the
oracles for the SQL macros clean_prompt and prompt_group."""

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


def group_key(prompt: str | None, image_id: int | None = None) -> str:
    """The prompt group as Python had it (learn/features.group_key, before the macro
    prompt_group became the one rule): prompts equal up to case, punctuation and spacing
    form one group; an image with no prompt (given its id) is a group of its own,
    `#<image_id>`. Python's lower() is the full case mapping, the macro's the simple one:
    they differ on 'İ' and a final 'Σ' (tests/test_prompt_cleaning.py)."""
    key = " ".join(re.sub(r"[^\w]+", " ", (prompt or "").lower()).split())
    return key if key or image_id is None else f"#{image_id}"
