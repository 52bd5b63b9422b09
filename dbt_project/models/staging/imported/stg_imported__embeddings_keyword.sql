{{ stg_imported_embeddings('keyword') }}
