"""Benchmark harnesses: ``python -m benchmarks.tracking`` (tracker vs peers), ``python -m benchmarks.reid``.

Optional peers and evaluation packages (deep-sort-realtime, TrackEval; boxmot, AGPL, optional) install
with ``pip install --no-deps -r benchmarks/peers.txt``; nothing in ``reid/`` or ``tracker/`` imports
this package. Their figures need matplotlib (``pip install 'where-did-i-see-it[bench]'``), the generator
speed benchmark pybullet (``[generate]``); ``[all]`` installs both.
"""
