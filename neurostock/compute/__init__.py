"""The compute runtime the embedding and scoring steps share: one decode pool per
process, the resume cache beside the warehouse, the run counters of a UDF step, and
the Ray engine's Parquet shards."""
