"""Entry point of the ``eyetest`` command.

Sub-commands are discovered from :mod:`eyetest.cli.commands` and imported
lazily, so ``eyetest metrics`` never pays for importing torch or FastAPI.
Errors derived from :class:`eyetest.errors.EyetestError` are printed as one
clear line (no traceback) with exit status 2.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

# eyetest parallelises with processes; multi-threaded BLAS on top of that
# oversubscribes the cores and makes the small solves of the scaling models
# 10-100x slower on a loaded machine.  Users can still override these.
for _var in ("OPENBLAS_NUM_THREADS",):
    os.environ.setdefault(_var, "1")

import click

from eyetest import __version__
from eyetest.errors import EyetestError


class _LazyGroup(click.Group):
    def _module_names(self) -> dict[str, str]:
        pkg = importlib.import_module("eyetest.cli.commands")
        return {
            info.name.replace("_", "-"): info.name
            for info in pkgutil.iter_modules(pkg.__path__)
            if not info.name.startswith("_")
        }

    def list_commands(self, ctx):
        return sorted(self._module_names())

    def get_command(self, ctx, name):
        modules = self._module_names()
        if name not in modules:
            return None
        module = importlib.import_module(f"eyetest.cli.commands.{modules[name]}")
        return module.command

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EyetestError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="eyetest")
def cli() -> None:
    """eyetest: human-centred evaluation of image restoration."""


if __name__ == "__main__":  # pragma: no cover
    cli()
