"""``python -m nlp.cli``: the same as ``wsis``."""

from nlp.cli import main

main()
