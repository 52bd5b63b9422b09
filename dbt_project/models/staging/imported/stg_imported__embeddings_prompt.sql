{{ stg_imported_embeddings('prompt') }}
