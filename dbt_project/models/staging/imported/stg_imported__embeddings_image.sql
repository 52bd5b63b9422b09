{{ stg_imported_embeddings('image') }}
