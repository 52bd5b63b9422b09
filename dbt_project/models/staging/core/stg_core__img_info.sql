with

source as (

    select * from {{ source('core', 'img_info') }}

),

typed as (

    select
        _source_rowid as source_rowid,
        id as source_id,
        {{ safe_integer('id') }} as image_id,
        img_path,
        img_name,
        try_cast(generation_date as timestamp) as generated_at,
        generation_date as generation_date_text,
        {{ safe_integer('experiment_model_id') }} as experiment_model_id,
        experiment_model_id as experiment_model_id_text,
        {{ safe_integer('experiment_number') }} as experiment_number,
        experiment_number as experiment_number_text,
        img_generation_promt as prompt_raw,
        -- The one inline use of clean_prompt outside int_prompts_cleaned, on purpose:
        -- int_prompts_cleaned reads int_images_checked, which reads this view, so
        -- joining it here would be a cycle. No model reads this column
        -- (int_images_checked excludes it; the marts join int_prompts_cleaned); it is
        -- where the macro is tested against the team's rule (the unit test
        -- test_prompt_cleaning_matches_the_team, tests/test_prompt_cleaning.py), and a
        -- view computes it only when selected.
        {{ clean_prompt('img_generation_promt') }} as prompt,

    from source

),

final as (

    select
        *,
        nullif(concat_ws('; ',
            case when source_id is null then 'id is NULL' end,
            {{ cast_problem('source_id', 'image_id', 'id', 'an integer') }},
            {{ cast_problem('generation_date_text', 'generated_at', 'generation_date', 'a timestamp') }},
            {{ cast_problem('experiment_model_id_text', 'experiment_model_id', 'experiment_model_id', 'an integer') }},
            {{ cast_problem('experiment_number_text', 'experiment_number', 'experiment_number', 'an integer') }}
        ), '') as invalid_reason,

    from typed

)

select * from final
