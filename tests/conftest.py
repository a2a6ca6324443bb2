"""What every test shares: no verdict may depend on how fast the machine runs.

Hypothesis fails an example that takes longer than its ``deadline`` (200 ms by default),
and measures it on the wall clock: a machine whose cores are busy with other work fails
tests there that pass on an idle one. Every test here runs with no deadline. A slow input
strategy is still caught: with no deadline, Hypothesis's health check allows 30 s to draw
the first inputs instead of 1 s, which bounds a strategy that has gone wrong, not a busy
machine.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("azhotpatch", deadline=None)
settings.load_profile("azhotpatch")
