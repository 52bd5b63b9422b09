"""The static HTML report of the warehouse: `neurostock report --out DIR`."""
