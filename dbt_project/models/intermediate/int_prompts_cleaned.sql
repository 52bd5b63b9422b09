-- One row per distinct raw prompt of the valid images: the prompt cleaned (macro
-- clean_prompt, 30-odd regular expressions per prompt: 10 s for 2.1 M prompts on one
-- core). Incremental: a build cleans only the prompts it has not cleaned with today's
-- macro (`cleaner`, a hash of the macro's SQL: changing the macro cleans everything
-- again), so a pool of every image costs its cleaning once, not on every build.
-- A prompt no longer in the source stays: this is a cache the marts join to.
{%- set cleaner = local_md5(clean_prompt('prompt_raw')) %}
{{ config(materialized='incremental', unique_key='prompt_raw',
          incremental_strategy='delete+insert') }}
with

prompts as (

    select distinct prompt_raw
    from {{ ref('int_images_checked') }}
    where is_valid and prompt_raw is not null

),

to_clean as (

    select prompt_raw from prompts
    {%- if is_incremental() %}
    anti join (select prompt_raw from {{ this }} where cleaner = '{{ cleaner }}') as done
        using (prompt_raw)
    {%- endif %}

),

final as (

    select
        prompt_raw,
        {{ clean_prompt('prompt_raw') }} as prompt,
        '{{ cleaner }}' as cleaner,
    from to_clean

)

select * from final
