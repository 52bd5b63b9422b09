{{ config(materialized='view', tags=['embedding']) }}
{{ embeddings_union('image') }}
