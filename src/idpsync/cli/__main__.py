"""``python -m idpsync.cli``."""

from idpsync.cli import main

main()
