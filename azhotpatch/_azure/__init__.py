"""The only layer that touches azure-mgmt SDK clients.

It owns the clients (one per subscription and provider, created lazily, sharing one HTTP
connection pool), the single retry policy, the pacer that mirrors Azure's throttling
buckets, LRO handling and the mapping of Azure's errors onto `azhotpatch.errors`. Everything
above it speaks in resource ids, typed models and `HotpatchError`s.
"""
