"""``python -m pushgate``: the same as the ``pushgate`` command."""

from pushgate.cli import main

main()
