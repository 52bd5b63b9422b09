{{ config(materialized='view', tags=['embedding']) }}
{{ embeddings_union('prompt') }}
