"""A documented subset of KQL over in-memory Azure Resource Graph rows.

The emulator answers Resource Graph queries from rows it holds in memory, so it needs a KQL
engine. Real KQL is a large language; automation that talks to Resource Graph uses a small
part of it: filter by type, subscription and tags, dot into ``properties``, project a few
columns, sort. This implements that part with KQL's semantics and rejects everything else.

One module per phase: `lexer` (text to tokens), `parser` (tokens to a `Query` of compiled
`expressions` and `functions`), `stages` (the operators), `execution` (running a query over
tables); `values` holds KQL's value semantics and `errors` the error and the subset.
"""

from __future__ import annotations

from azhotpatch.testing.kql.errors import SUPPORTED_SUBSET, KqlError
from azhotpatch.testing.kql.execution import Query
from azhotpatch.testing.kql.parser import parse

__all__ = ["SUPPORTED_SUBSET", "KqlError", "Query", "parse"]
