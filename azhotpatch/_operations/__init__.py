"""Operations on Azure for one machine or one subscription: what the facade and the fleet
engine ask Azure to do, spelled in SDK calls.

Here live each machine kind's behaviour behind the `Kind` protocol (`kinds`: `vm.VmKind`,
`arc.ArcKind`, sharing `patch_operations`; Arc's VBS and CHPE remediation in
`arc_remediation`), the guard that keeps an install from being sent twice for one release
(`install_guard`), preview-feature registration (`features`) and Update Manager schedules
(`maintenance`). They call operations on the SDK clients that `azhotpatch._azure`'s
`Session` hands out, and turn SDK models into the package's typed results.

What they may import: `azhotpatch._azure` (the session, LRO and retry helpers, error
mapping), the pure domain modules (`catalog`, `schedule`, `remediation`, facts and
eligibility, parsing), `models`, `errors` and `ids`; never `fleet/`, `cli/` or the facade.
What imports them: the async facade (`aio.py`; the sync `client.py` goes through it) and
the fleet engine (`fleet/`). The command line reaches them only through the facade.
`tests/test_architecture.py` checks both directions.
"""
