"""The committed dbt project, installed as package `neurostock_dbt` (see pyproject.toml):
an installed neurostock finds its project here. dbt itself ignores this file."""
