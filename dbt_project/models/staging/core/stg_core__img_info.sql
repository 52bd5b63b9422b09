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
