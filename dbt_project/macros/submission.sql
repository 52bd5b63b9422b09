{% macro submission_param(name) %}
{#- A parameter of the marketplace policy neurostock passes in var ns_submission
    (submit/policy.py: the policy file with neurostock.yml's overrides), as SQL. -#}
{%- set policy = var('ns_submission', none) -%}
{%- if policy is none or name not in policy['params'] -%}
null
{%- elif policy['params'][name] is string -%}
'{{ policy['params'][name] | replace("'", "''") }}'
{%- else -%}
{{ policy['params'][name] }}
{%- endif -%}
{% endmacro %}

{% macro submission_action_name(rule_id) %}
{#- What a failure of the rule means under the policy (hold, reject, label), as text. -#}
{%- set policy = var('ns_submission', none) -%}
{{- return(policy['actions'].get(rule_id, 'hold') if policy is not none else 'hold') -}}
{%- endmacro %}

{% macro submission_action(rule_id) -%}
'{{ submission_action_name(rule_id) }}'
{%- endmacro %}

{% macro submission_policy_name() %}
{%- set policy = var('ns_submission', none) -%}
{{ "'" ~ policy['policy'] ~ "'" if policy is not none else 'null::varchar' }}
{%- endmacro %}

{% macro submission_policy_version() %}
{%- set policy = var('ns_submission', none) -%}
{{ policy['version'] if policy is not none else 'null::integer' }}
{%- endmacro %}

{% macro submission_enabled() %}
{{- 'true' if var('ns_submission', none) is not none else 'false' -}}
{% endmacro %}

{% macro submission_rules() %}
{#- The gate's rules, by id (the near-duplicate budget aside: submission_decisions
    applies it). Each has its check in submission_rule() below. -#}
{{- return(['artist_reference', 'max_file_mb', 'max_megapixels', 'metadata',
            'min_megapixels', 'news_event', 'nsfw', 'people_present', 'prohibited_names',
            'quality', 'text_in_image']) -}}
{% endmacro %}

{% macro submission_evidence() %}
{#- The select that gives each gate image its evidence: submission_images with what
    submission_prompt_texts found in its prompt (prohibited names, artist references) and
    made of it (the upload's title, keywords, category). -#}
select images.*, texts.* exclude (prompt_raw, prompt)
from {{ ref('submission_images') }} as images
left join {{ ref('submission_prompt_texts') }} as texts
    on texts.prompt_raw is not distinct from images.prompt_raw
{%- endmacro %}

{% macro submission_rule(rule) %}
{#- One rule's check over a row of submission_evidence(), as three SQL expressions:
    status (`pass`, `fail`, or `unknown` when the warehouse cannot tell: no file, no
    score; never null), detail (what the rule saw, or what a failure needs) and value.
    submission_checks (a row per image and rule) and submission_decisions (a row per
    image) both evaluate the rules through this one macro. -#}
{%- set p = submission_param -%}
{%- if rule == 'min_megapixels' -%}
{%- set factor = "ceil(sqrt(" ~ p('min_megapixels') ~ " / megapixels) * 100) / 100" -%}
{{- return({
    'status': "case when megapixels is null then 'unknown' when megapixels >= "
              ~ p('min_megapixels') ~ " then 'pass' else 'fail' end",
    'detail': "case when megapixels is null then 'no image file (' || file_status || ')'"
              ~ " when megapixels >= " ~ p('min_megapixels') ~ " then round(megapixels, 2) || ' MP'"
              ~ " else 'needs x' || " ~ factor ~ " || ' upscaling to reach ' || "
              ~ p('min_megapixels') ~ " || ' MP (' || width || 'x' || height || ')' end",
    'value': "case when megapixels < " ~ p('min_megapixels') ~ " then " ~ factor ~ " end",
}) -}}
{%- elif rule == 'max_megapixels' -%}
{{- return({
    'status': "case when megapixels is null then 'unknown' when megapixels <= "
              ~ p('max_megapixels') ~ " then 'pass' else 'fail' end",
    'detail': "case when megapixels is null then 'no image file (' || file_status || ')'"
              ~ " else round(megapixels, 2) || ' MP (at most ' || " ~ p('max_megapixels')
              ~ " || ')' end",
    'value': "megapixels",
}) -}}
{%- elif rule == 'max_file_mb' -%}
{{- return({
    'status': "case when bytes is null or file_status != 'ok' then 'unknown'"
              ~ " when bytes / 1e6 <= " ~ p('max_file_mb') ~ " then 'pass' else 'fail' end",
    'detail': "case when bytes is null or file_status != 'ok' then 'no image file (' || file_status || ')'"
              ~ " else round(bytes / 1e6, 2) || ' MB (at most ' || " ~ p('max_file_mb')
              ~ " || ')' end",
    'value': "bytes / 1e6",
}) -}}
{%- elif rule == 'text_in_image' -%}
{{- return({
    'status': "case when text_area_fraction is null then 'unknown'"
              ~ " when text_area_fraction <= " ~ p('max_text_area_fraction')
              ~ " and text_boxes <= " ~ p('max_text_boxes') ~ " then 'pass' else 'fail' end",
    'detail': "case when text_area_fraction is null then 'no text_in_image score'"
              ~ " else text_boxes::integer || ' text box(es) over '"
              ~ " || round(100 * text_area_fraction, 1) || '% of the image' end",
    'value': "text_area_fraction",
}) -}}
{%- elif rule == 'nsfw' -%}
{{- return({
    'status': "case when nsfw_score is null then 'unknown' when nsfw_score <= "
              ~ p('max_nsfw') ~ " then 'pass' else 'fail' end",
    'detail': "case when nsfw_score is null then 'no nsfw score'"
              ~ " else 'nudity ' || round(nsfw_score, 2) || ' (at most ' || "
              ~ p('max_nsfw') ~ " || ')' end",
    'value': "nsfw_score",
}) -}}
{%- elif rule == 'people_present' -%}
{{- return({
    'status': "case when face_confidence is null then 'unknown' when face_confidence >= "
              ~ p('min_face_confidence') ~ " then 'fail' else 'pass' end",
    'detail': "case when face_confidence is null then 'no nsfw score (its face classes tell)'"
              ~ " when face_confidence >= " ~ p('min_face_confidence')
              ~ " then 'a face at ' || round(face_confidence, 2)"
              ~ " || ': label \"People and Property are fictional\"' else 'no face' end",
    'value': "face_confidence",
}) -}}
{%- elif rule == 'prohibited_names' -%}
{{- return({
    'status': "case when prompt is null then 'unknown'"
              ~ " when len(coalesce(prohibited_terms, [])) = 0 then 'pass' else 'fail' end",
    'detail': "case when prompt is null then 'no prompt'"
              ~ " when len(coalesce(prohibited_terms, [])) = 0 then 'none'"
              ~ " else 'names ' || array_to_string(prohibited_terms, '; ') end",
    'value': "len(prohibited_terms)",
}) -}}
{%- elif rule == 'artist_reference' -%}
{{- return({
    'status': "case when prompt_raw is null then 'unknown'"
              ~ " when len(coalesce(artist_references, [])) = 0 then 'pass' else 'fail' end",
    'detail': "case when prompt_raw is null then 'no prompt'"
              ~ " when len(coalesce(artist_references, [])) = 0 then 'none'"
              ~ " else array_to_string(artist_references, '; ') end",
    'value': "len(artist_references)",
}) -}}
{%- elif rule == 'news_event' -%}
{{- return({
    'status': "case when prompt_raw is null and prompt is null then 'unknown'"
              ~ " when len(coalesce(news_event_terms, [])) = 0 then 'pass' else 'fail' end",
    'detail': "case when prompt_raw is null and prompt is null then 'no prompt'"
              ~ " when len(coalesce(news_event_terms, [])) = 0 then 'none'"
              ~ " else 'a real news event: ' || array_to_string(news_event_terms, ', ') end",
    'value': "len(news_event_terms)",
}) -}}
{%- elif rule == 'metadata' -%}
{#- A title and at least min_keywords keywords (submission_prompt_texts fills the
    keywords from the nearest prompts first). -#}
{%- set enough = "coalesce(n_keywords, 0) >= " ~ p('min_keywords') -%}
{%- set titled = "coalesce(trim(title), '') != ''" -%}
{{- return({
    'status': "case when prompt_raw is null and prompt is null then 'unknown'"
              ~ " when " ~ titled ~ " and " ~ enough ~ " then 'pass' else 'fail' end",
    'detail': "case when prompt_raw is null and prompt is null then 'no prompt'"
              ~ " when not (" ~ titled ~ ") then 'no title: nothing of the prompt is left"
              ~ " once parameters, filler and names are cut'"
              ~ " when not (" ~ enough ~ ") then keyword_note"
              ~ " else n_keywords || ' keywords (' || n_prompt_keywords || ' from the prompt)' end",
    'value': "n_keywords",
}) -}}
{%- elif rule == 'quality' -%}
{#- The sell decision, or the percentile override (submission_images decides which and
    says what it saw in quality_detail). -#}
{{- return({
    'status': "case when quality_passes is null then 'unknown' when quality_passes "
              ~ "then 'pass' else 'fail' end",
    'detail': "quality_detail",
    'value': "quality_score",
}) -}}
{%- else -%}
{{ exceptions.raise_compiler_error("submission_rule: no check for rule " ~ rule) }}
{%- endif -%}
{% endmacro %}

{% macro embedding_pair_min_cosine() %}
{#- The cosine at or above which two images of one embedder are near-duplicates: the
    policy's near_duplicate_min_cosine (image_embedding_pairs' config says the same). -#}
{%- set policy = var('ns_submission', none) or {} -%}
{{ policy.get('params', {}).get('near_duplicate_min_cosine', 0.97) }}::double
{%- endmacro %}
