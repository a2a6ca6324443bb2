"""Microsoft.Features (preview features) and Microsoft.Resources provider registration.
`models` holds the registration rules, `responses` the wire shapes, `routes` the route table."""
