"""The rating loop: the local rating app (`neurostock rate`), its writes to
`annotations.ratings`, the ratings export, and the learning curve."""
