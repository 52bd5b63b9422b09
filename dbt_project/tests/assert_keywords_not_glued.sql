-- No keyword is two other keywords run together (the team's `heavenlyhorrible`,
-- a missing comma in their list), in the seed or in any imported keyword file.
-- A warning, not an error: an imported file is the team's evidence and is kept
-- as it is; its glued keyword is zero-shot group 'unlisted' and hides no group
-- (docs/analysis.md, "Zero-shot").
{{ config(severity='warn') }}

with

keywords as (

    select keyword, 'seed keywords' as found_in from {{ ref('keywords') }}
    union
    select keyword, 'embedder ' || embedder_id from {{ ref('keyword_embeddings') }}

),

words as (select distinct lower(keyword) as word from keywords)

select glued.keyword, glued.found_in, a.word as first_part, b.word as second_part
from keywords as glued
inner join words as a on starts_with(lower(glued.keyword), a.word)
inner join words as b on lower(glued.keyword) = a.word || b.word
