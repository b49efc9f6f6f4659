"""pushgate's benchmark suite: one module per figure of the performance issue, plus ``run_all``.

Run them through ``bench/run`` (installs the C sink and client when missing). Every process a
benchmark starts talks to 127.0.0.1 only, is bounded in time and count, and is killed on exit.
"""
