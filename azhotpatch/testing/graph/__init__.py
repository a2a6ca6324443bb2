"""Azure Resource Graph: KQL queries (see `azhotpatch.testing.kql`) over an index of what the
other services hold. `models` holds the index and paging, `responses` the wire shapes,
`routes` the route table."""
