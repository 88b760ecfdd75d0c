"""One module per sub-command; each defines ``command`` (a click command).

The module name is the command name with ``_`` for ``-``.  Modules are
imported only when their command runs (or help lists them), so keep heavy
imports inside the command function.
"""
