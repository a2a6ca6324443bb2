"""``python -m azhotpatch``: the command line."""

from azhotpatch.cli import main

main()
