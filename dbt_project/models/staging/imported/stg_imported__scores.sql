with

imported as (
    {%- for table in imported_tables('scores__') %}
    select
        '{{ table[8:] }}' as scorer_id,
        image_id::bigint as image_id,
        score::double as score,
        components::map(varchar, double) as components,
        source_row::bigint as source_row,
        source_file::varchar as source_file,
        source_sha256::varchar as source_sha256,
        imported_at::timestamptz as imported_at,
    from imported.{{ table }}
    union all
    {%- endfor %}
    -- No import yet: no rows, the same columns.
    select
        null::varchar as scorer_id,
        null::bigint as image_id,
        null::double as score,
        null::map(varchar, double) as components,
        null::bigint as source_row,
        null::varchar as source_file,
        null::varchar as source_sha256,
        null::timestamptz as imported_at,
    where false
),

final as (select * from imported)

select * from final
