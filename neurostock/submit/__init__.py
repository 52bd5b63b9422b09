"""The marketplace gate (dbt models in dbt_project/models/submission/ read what this
stage's policy gives them) and `neurostock submit`, the upload pack."""
