"""Pure computation: no files, database, network, clock, global RNG or printing.

``eyetest.core`` must never import from ``eyetest.io``, ``store``, ``web``,
``cli``, ``run``, ``report`` or ``backends``; ``tests/test_layering.py``
enforces it.  Parameter files (NIQE, BRISQUE) and network weights are loaded
by :mod:`eyetest.io` and handed to core functions as arguments.
"""
