"""One row per distinct prompt of the gate's images: the upload title, keywords and
category, and the prohibited names and artist references it holds (submit/text.py says
how; the seeds hold the lists)."""

import pandas as pd

from neurostock.submit.text import PromptDescriber


def model(dbt, session):
    dbt.config(materialized="table")
    prompts = dbt.ref("submission_images").select("prompt_raw, prompt").distinct().df()
    # One plain call per ref: dbt finds a model's refs in its source only in simple forms.
    names = dbt.ref("submission_prohibited_names").df()
    filler = dbt.ref("submission_filler_terms").df()
    words = dbt.ref("submission_category_words").df()
    names, filler = names["term"].tolist(), filler["term"].tolist()
    describer = PromptDescriber(names, filler, dict(zip(words["word"], words["category_id"],
                                                        strict=True)),
                                max_title_chars=int(dbt.config.get("max_title_chars")),
                                max_keywords=int(dbt.config.get("max_keywords")),
                                min_keywords=int(dbt.config.get("min_keywords")))
    rows = []
    for prompt_raw, prompt in prompts.itertuples(index=False):
        text = describer.describe(prompt_raw, prompt)
        rows.append({"prompt_raw": prompt_raw, "prompt": prompt, "title": text.title,
                     "keywords": text.keywords, "n_keywords": len(text.keywords),
                     "keyword_note": text.keyword_note, "category_id": text.category_id,
                     "prohibited_terms": text.prohibited_terms,
                     "artist_references": text.artist_references,
                     "news_event_terms": list(text.news_event_terms),
                     "content_type": text.content_type})
    columns = ["prompt_raw", "prompt", "title", "keywords", "n_keywords", "keyword_note",
               "category_id", "prohibited_terms", "artist_references", "news_event_terms",
               "content_type"]
    frame = pd.DataFrame(rows, columns=columns)
    return session.from_df(frame).project(
        "prompt_raw::varchar as prompt_raw, prompt::varchar as prompt, "
        "title::varchar as title, keywords::varchar[] as keywords, "
        "n_keywords::integer as n_keywords, keyword_note::varchar as keyword_note, "
        "category_id::integer as category_id, prohibited_terms::varchar[] as prohibited_terms, "
        "artist_references::varchar[] as artist_references, "
        "news_event_terms::varchar[] as news_event_terms, "
        "content_type::varchar as content_type")
