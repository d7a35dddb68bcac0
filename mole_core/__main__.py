"""``python -m mole_core`` is the ``mole`` command."""

from .cli import main

main()
