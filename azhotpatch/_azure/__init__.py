"""Owns the azure-mgmt SDK clients: how they are built and what every request passes through.

It owns the clients (one per subscription and provider, created lazily, sharing one HTTP
connection pool), the single retry policy, the pacer that mirrors Azure's throttling
buckets, LRO handling and the mapping of Azure's errors onto `azhotpatch.errors`. It does
not own every call: `azhotpatch._operations` calls operations on the clients a `Session`
hands out (``client.virtual_machines.begin_update``) and reads SDK models, inside the
policy set here. These two subpackages are the only ones that import the Azure SDKs
(`tests/test_architecture.py` checks it); everything above them speaks in resource ids,
typed models and `HotpatchError`s.
"""
