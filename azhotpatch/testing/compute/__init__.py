"""Microsoft.Compute: virtual machines, their guest patch operations, and the platform image
catalog. `models` holds its rules, `responses` its wire shapes, `routes` its route table."""
