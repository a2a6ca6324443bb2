"""Microsoft.HybridCompute: Arc-enabled servers, their license profile, and their patch
operations. `models` holds its rules, `responses` its wire shapes, `routes` its route table."""
