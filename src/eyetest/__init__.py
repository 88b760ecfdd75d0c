"""eyetest: human-centred evaluation of image restoration.

Sub-packages (dependencies point one way, see ``docs/`` and DESIGN):

``core``      pure computation (metrics, manipulations, judgments, design, alignment)
``io``        images, datasets, tables, resources, foreign formats
``store``     database schema and engines
``study``     study specs and the service functions used by the web app and CLI
``web``       the study server
``report``    figures, HTML / Markdown / LaTeX reports
``run``       executors for metric jobs and the score cache
``backends``  optional adapters (pyiqa, weights manager, imported scores)
``cli``       the ``eyetest`` command
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("eyetest")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
