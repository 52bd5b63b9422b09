-- One row per distinct raw prompt of the gate's images: the upload's keywords, ranked
-- by importance: the prompt's own content words first (submission_prompt_texts, in
-- prompt order), then the keyword list's closest keywords by embedding
-- (submission_keyword_suggestions, best first) until the policy's target_keywords; a
-- prompt with more words than the target keeps them all (at most max_keywords). A note
-- when fewer than the advised min_keywords remain.
{%- set policy = var('ns_submission', none) %}
{%- set csv = policy['csv'] if policy is not none else {} %}
{%- set target = csv.get('target_keywords', 25) | int %}
{%- set most = csv.get('max_keywords', 49) | int %}
{%- set advised = csv.get('min_keywords', 15) | int %}
with

texts as (select prompt_raw, keywords from {{ ref('submission_prompt_texts') }}),

suggested as (
    select
        prompt_raw,
        list(keyword order by suggestion_rank) as suggestions,
        any_value(embedder_id) as embedder_id,
    from {{ ref('submission_keyword_suggestions') }}
    group by prompt_raw
),

merged as (
    select
        texts.prompt_raw,
        coalesce(texts.keywords, []) as own,
        list_filter(coalesce(suggested.suggestions, []),
                    k -> not list_contains(coalesce(texts.keywords, []), lower(k))) as extra,
        suggested.embedder_id,
    from texts
    left join suggested on suggested.prompt_raw is not distinct from texts.prompt_raw
),

final as (
    select
        prompt_raw,
        list_slice(list_concat(own, list_slice(extra, 1, greatest({{ target }} - len(own), 0))),
                   1, {{ most }}) as keywords,
        len(own) as n_prompt_keywords,
        least(len(extra), greatest({{ target }} - len(own), 0)) as n_suggested_keywords,
        embedder_id as suggested_by,
    from merged
)

select
    *,
    len(keywords) as n_keywords,
    case when len(keywords) < {{ advised }}
        then 'only ' || len(keywords) || ' keyword(s): ' || n_prompt_keywords
            || ' from the prompt, ' || n_suggested_keywords || ' suggested'
            || coalesce(' by ' || suggested_by, ' (no text embedder with real weights)')
            || ' (advised at least {{ advised }})'
    end as keyword_note,
from final
