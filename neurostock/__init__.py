"""neurostock: a DuckDB + dbt warehouse for judging generated images."""

__version__ = "0.1.0"
