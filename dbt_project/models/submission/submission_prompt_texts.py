"""One row per distinct prompt of the gate's images: the upload title, keywords and
category, and the prohibited names and artist references it holds (submit/text.py says
how; the seeds hold the lists). Keywords below the policy's target_keywords are filled
from the keywords of the nearest prompts by embedding cosine (submit/keywords.py), with
the prompt vectors of one real-weight text embedder (the one with the most prompt
vectors, by name on a tie); without one a prompt keeps its own words.

A rebuild describes only prompts it has not described before: a prompt whose row the
last build wrote with the same describer fingerprint (describer_sha: the describing
code, the seeds' lists and the limits) keeps its title, own keywords (prompt_keywords),
category and found names. And it fills again only the keywords a change can reach: a
prompt keeps its filled keywords when the fill's fingerprint (keyword_fill_sha: the
describer's, the filling code, the embedder, the limits), its vector
(keyword_vector_digest) and the reference prompts it was filled from are unchanged,
except for reference prompts added since, none of which is as near as its fill's floor
(keyword_fill_floor; submit/keywords.py says why that is exact). A reference prompt
gone (in_keyword_reference: last build's reference) fills everything again."""

import numpy as np
import pandas as pd

from neurostock.core.progress import say
from neurostock.core.warehouse import table_columns
from neurostock.submit import keywords as keyword_fill
from neurostock.submit.keywords import KeywordExpander, choose_reference, needs_refill
from neurostock.submit.text import PromptDescriber, PromptText

COLUMNS = ["prompt_raw", "prompt", "title", "keywords", "n_keywords", "n_prompt_keywords",
           "keyword_embedder", "keyword_note", "category_id", "prohibited_terms",
           "artist_references", "news_event_terms", "content_type", "prompt_keywords",
           "describer_sha", "keyword_fill_sha", "keyword_vector_digest",
           "keyword_fill_floor", "in_keyword_reference"]
# What a prompt's description is made of, kept from the last build (module doc).
_KEPT = ("title", "prompt_keywords", "category_id", "prohibited_terms", "artist_references",
         "news_event_terms", "content_type")


def _described_before(session, fingerprint: str) -> dict:
    """{(prompt_raw, prompt): PromptText} of the last build's rows described with
    `fingerprint` (empty on a first build, or after the describer changed)."""
    if "describer_sha" not in table_columns(session, "submission_prompt_texts"):
        return {}
    rows = session.execute(
        f"select prompt_raw, prompt, {', '.join(_KEPT)} from main.submission_prompt_texts "
        "where describer_sha = ?", [fingerprint]).fetchall()
    return {(raw, prompt): PromptText(
        title=title, keywords=list(keywords or []), keyword_note=None,
        category_id=category_id, prohibited_terms=list(prohibited or []),
        artist_references=list(references or []), news_event_terms=tuple(news or ()),
        content_type=content_type)
        for raw, prompt, title, keywords, category_id, prohibited, references, news,
        content_type in rows}


def _fill_fingerprint(describer_sha: str, embedder: str | None, target: int,
                      max_keywords: int) -> str:
    """What a prompt's filled keywords depend on besides its vector and the reference:
    its description, the filling code and its constants, the embedder, the limits."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256(Path(keyword_fill.__file__).read_bytes())
    digest.update(repr((describer_sha, embedder, target, max_keywords)).encode("utf-8"))
    return digest.hexdigest()[:32]


def _vector_digest(vector: np.ndarray) -> str:
    import hashlib

    return hashlib.blake2b(np.ascontiguousarray(vector, dtype=np.float32).tobytes(),
                           digest_size=12).hexdigest()


def _filled_before(session, fill_sha: str) -> dict:
    """{(prompt_raw, prompt): (keywords, vector digest, floor, was a reference prompt)}
    of the last build's rows filled with `fill_sha`."""
    if "keyword_fill_sha" not in table_columns(session, "submission_prompt_texts"):
        return {}
    rows = session.execute(
        "select prompt_raw, prompt, keywords, keyword_vector_digest, keyword_fill_floor, "
        "in_keyword_reference from main.submission_prompt_texts "
        "where keyword_fill_sha = ?", [fill_sha]).fetchall()
    return {(raw, prompt): (list(keywords or []), digest, floor, bool(in_reference))
            for raw, prompt, keywords, digest, floor, in_reference in rows}


def _vectors(session, embeddings, prompts: pd.DataFrame):
    """(embedder id, {prompt row: vector}) of the real-weight text embedder with the most
    prompt vectors among `prompts` (one image per prompt), or (None, {})."""
    session.register("ns_prompt_images", prompts[["image_id"]].reset_index())
    try:
        relation = embeddings.query("vectors", (
            "select e.embedder_id, i.index as row, e.embedding "
            "from vectors as e inner join ns_prompt_images as i using (image_id) "
            "where not e.is_random_init"))
        counts = relation.aggregate("embedder_id, count(*) as n").order(
            "n desc, embedder_id").limit(1).fetchall()
        if not counts:
            return None, {}
        embedder = counts[0][0]
        rows = relation.filter(f"embedder_id = '{embedder}'").project(
            "row, embedding").fetchnumpy()
    finally:
        session.unregister("ns_prompt_images")
    vectors = {int(r): np.asarray(v, dtype=np.float32)
               for r, v in zip(rows["row"], rows["embedding"], strict=True)}
    return embedder, vectors


def model(dbt, session):
    dbt.config(materialized="table")
    prompts = dbt.ref("submission_images").aggregate(
        "prompt_raw, prompt, min(image_id) as image_id, "
        "bool_or(image_set = 'rated') as is_rated", "prompt_raw, prompt").order(
        "prompt_raw").df()
    embeddings = dbt.ref("prompt_embeddings")
    # One plain call per ref: dbt finds a model's refs in its source only in simple forms.
    names = dbt.ref("submission_prohibited_names").df()
    filler = dbt.ref("submission_filler_terms").df()
    words = dbt.ref("submission_category_words").df()
    names, filler = names["term"].tolist(), filler["term"].tolist()
    min_keywords = int(dbt.config.get("min_keywords"))
    max_keywords = int(dbt.config.get("max_keywords"))
    target = int(dbt.config.get("target_keywords"))
    describer = PromptDescriber(names, filler, dict(zip(words["word"], words["category_id"],
                                                        strict=True)),
                                max_title_chars=int(dbt.config.get("max_title_chars")),
                                max_keywords=max_keywords, min_keywords=min_keywords)
    fingerprint = describer.fingerprint()
    before = _described_before(session, fingerprint)
    texts, kept = [], 0
    for raw, prompt in zip(prompts["prompt_raw"], prompts["prompt"], strict=True):
        text = before.get((None if pd.isna(raw) else raw, None if pd.isna(prompt) else prompt))
        if text is None:
            text = describer.describe(raw, prompt)
        else:
            kept += 1
        texts.append(text)
    say(f"submission_prompt_texts: described {len(texts) - kept:,} prompt(s), kept "
        f"{kept:,} from the last build")
    own = [t.keywords for t in texts]
    keywords, embedder, vectors = own, None, {}
    floors = np.full(len(texts), np.inf)
    digests: list[str | None] = [None] * len(texts)
    in_reference = np.zeros(len(texts), dtype=bool)
    if len(prompts) and target > 0:
        embedder, vectors = _vectors(session, embeddings, prompts)
    fill_sha = _fill_fingerprint(fingerprint, embedder, target, max_keywords)
    # A vector that is not finite or is zero lends nothing (its prompt keeps its words).
    usable = [r for r, v in vectors.items() if np.isfinite(v).all() and v.any()]
    expanding = embedder is not None and len(usable) > 1
    if expanding:
        keys = [text_key(prompts, r, "prompt_raw") for r in usable]
        reference = [usable[i] for i in choose_reference(
            keys, [bool(prompts["is_rated"].iat[r]) for r in usable])]
        in_reference[reference] = True
        position = {r: p for p, r in enumerate(reference)}
        expander = KeywordExpander(np.stack([vectors[r] for r in reference]),
                                   [own[r] for r in reference])
        rows = sorted(vectors)
        for r in rows:
            digests[r] = _vector_digest(vectors[r])
        filled = _filled_before(session, fill_sha)
        earlier = [filled.get((text_key(prompts, r, "prompt_raw"),
                               text_key(prompts, r, "prompt"))) for r in rows]
        previous_reference = {key for key, (*_, was) in filled.items() if was}
        now_reference = {(text_key(prompts, r, "prompt_raw"), text_key(prompts, r, "prompt"))
                         for r in reference}
        keep = np.array([e is not None and e[1] == digests[r]
                         for r, e in zip(rows, earlier, strict=True)], dtype=bool)
        if previous_reference - now_reference:
            keep[:] = False  # a reference prompt gone: every fill may change
        added = [r for r in reference if (text_key(prompts, r, "prompt_raw"),
                                          text_key(prompts, r, "prompt"))
                 not in previous_reference]
        if keep.any() and added:
            kept_rows = np.flatnonzero(keep)
            changed = needs_refill(np.stack([vectors[rows[i]] for i in kept_rows]),
                                   np.array([np.inf if earlier[i][2] is None else earlier[i][2]
                                             for i in kept_rows], dtype=float),
                                   np.stack([vectors[r] for r in added]))
            keep[kept_rows[changed]] = False
        redo = [r for r, k in zip(rows, keep, strict=True) if not k]
        say(f"submission_prompt_texts: keywords of {len(redo):,} prompts filled to "
            f"{target} from {len(reference):,} nearest-prompt candidates ({embedder}); "
            f"{len(rows) - len(redo):,} kept from the last build "
            f"({len(added):,} reference prompts added)")
        expanded = expander.expand_all([own[r] for r in redo],
                                       np.stack([vectors[r] for r in redo]) if redo else
                                       np.zeros((0, 1), np.float32),
                                       [position.get(r) for r in redo], target, max_keywords)
        keywords = list(own)
        for r, result in zip(redo, expanded, strict=True):
            keywords[r] = result.keywords
            floors[r] = result.floor
        for r, k, e in zip(rows, keep, earlier, strict=True):
            if k:
                keywords[r] = e[0]
                floors[r] = np.inf if e[2] is None else e[2]
    out = []
    for r, text in enumerate(texts):
        found = keywords[r]
        note = None
        if len(found) < min_keywords:
            note = (f"{len(found)} keyword(s), at least {min_keywords} needed: the prompt "
                    f"has {len(text.keywords)} content word(s)"
                    + (" and its nearest prompts add no more" if expanding and r in vectors
                       else
                       " and no real-weight prompt embedding to add more from"))
        out.append({"prompt_raw": text_key(prompts, r, "prompt_raw"),
                    "prompt": text_key(prompts, r, "prompt"), "title": text.title,
                    "keywords": found, "n_keywords": len(found),
                    "n_prompt_keywords": len(text.keywords),
                    "keyword_embedder": embedder if len(found) > len(text.keywords) else None,
                    "keyword_note": note, "category_id": text.category_id,
                    "prohibited_terms": text.prohibited_terms,
                    "artist_references": text.artist_references,
                    "news_event_terms": list(text.news_event_terms),
                    "content_type": text.content_type, "prompt_keywords": text.keywords,
                    "describer_sha": fingerprint, "keyword_fill_sha": fill_sha,
                    "keyword_vector_digest": digests[r],
                    "keyword_fill_floor": floors[r] if np.isfinite(floors[r]) else None,
                    "in_keyword_reference": bool(in_reference[r])})
    frame = pd.DataFrame(out, columns=COLUMNS)
    return session.from_df(frame).project(
        "prompt_raw::varchar as prompt_raw, prompt::varchar as prompt, "
        "title::varchar as title, keywords::varchar[] as keywords, "
        "n_keywords::integer as n_keywords, n_prompt_keywords::integer as n_prompt_keywords, "
        "keyword_embedder::varchar as keyword_embedder, keyword_note::varchar as keyword_note, "
        "category_id::integer as category_id, prohibited_terms::varchar[] as prohibited_terms, "
        "artist_references::varchar[] as artist_references, "
        "news_event_terms::varchar[] as news_event_terms, "
        "content_type::varchar as content_type, "
        "prompt_keywords::varchar[] as prompt_keywords, describer_sha::varchar as describer_sha, "
        "keyword_fill_sha::varchar as keyword_fill_sha, "
        "keyword_vector_digest::varchar as keyword_vector_digest, "
        "keyword_fill_floor::double as keyword_fill_floor, "
        "in_keyword_reference::boolean as in_keyword_reference")


def text_key(prompts: pd.DataFrame, row: int, column: str):
    value = prompts[column].iat[row]
    return None if pd.isna(value) else value

