"""``eyetest weights list|fetch|import|verify``: the offline weights cache.

``fetch`` is the only eyetest command that uses the network.
"""

from __future__ import annotations

import click


@click.group("weights")
def command() -> None:
    """Network weights for learned metrics (LPIPS, FID): list, fetch, import, verify.

    The cache directory is $EYETEST_WEIGHTS_DIR, else the user cache dir.
    """


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows instead of a table.")
def list_cmd(as_json: bool) -> None:
    """Every known weight file and whether it is in the cache (no hashing)."""
    import json

    from eyetest.backends import weights

    rows = weights.list_weights()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"weights cache: {weights.weights_dir()}")
    width = max(len(r["name"]) for r in rows) if rows else 4
    fwidth = max(len(r["file"]) for r in rows) if rows else 4
    for r in rows:
        click.echo(f"{r['name']:<{width}}  {r['status']:<8}  {r['file']:<{fwidth}}  {r['sha256']}")


def _progress_printer(name: str):
    state = {"last": -1}

    def show(done: int, total: int | None) -> None:
        mib = done >> 20
        if mib == state["last"]:
            return
        state["last"] = mib
        if total:
            click.echo(f"\r{name}: {mib} / {total >> 20} MiB", nl=False, err=True)
        else:
            click.echo(f"\r{name}: {mib} MiB", nl=False, err=True)

    return show


@command.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--all", "fetch_all", is_flag=True, help="Fetch every known file.")
@click.option("--url", default=None, help="Download from this mirror URL (one NAME only); the hash is still checked.")
@click.option("--force", is_flag=True, help="Download again even if a verified copy exists.")
@click.option("--timeout", default=60.0, show_default=True, help="Network timeout in seconds.")
def fetch_cmd(names, fetch_all: bool, url, force: bool, timeout: float) -> None:
    """Download weight files by NAME (see `eyetest weights list`), SHA256-checked.

    `pyiqa:METRIC` asks pyiqa (if installed) to download that metric's files
    into the eyetest weights cache (pyiqa pins no hashes).
    """
    from eyetest.backends import weights

    if fetch_all:
        names = tuple(weights.WEIGHTS)
    if not names:
        raise click.UsageError("give at least one weight name or --all (see `eyetest weights list`)")
    if url and len(names) != 1:
        raise click.UsageError("--url (a mirror) applies to exactly one NAME")
    for name in names:
        if not name.startswith("pyiqa:"):
            weights.get_weight_file(name)  # unknown names fail before any download
    for name in names:
        if name.startswith("pyiqa:"):
            from eyetest.backends import pyiqa

            click.echo(f"{name}: downloaded by pyiqa into {pyiqa.prefetch(name)}")
            continue
        path = weights.fetch(name, url=url, force=force, timeout=timeout,
                             progress=_progress_printer(name))
        click.echo(f"\r{name}: ok  {path}")


@command.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--name", default=None, help="Registry name the file must be (default: found by its SHA256).")
def import_cmd(paths, name) -> None:
    """Copy hand-carried weight files into the cache after checking their SHA256."""
    from eyetest.backends import weights

    for p in paths:
        got, dest = weights.import_file(p, name=name)
        click.echo(f"{got}: imported {p} -> {dest}")


@command.command("verify")
@click.argument("names", nargs=-1)
def verify_cmd(names) -> None:
    """Hash the cached files (all, or NAMES); exit 1 if any is corrupt."""
    from eyetest.backends import weights

    rows = weights.verify(names or None)
    bad = False
    for r in rows:
        line = f"{r['name']}: {r['status']}"
        if r["status"] == "corrupt":
            bad = True
            line += f" (SHA256 {r['sha256']}, expected {r['expected']}; {r['path']})"
        click.echo(line)
    if bad:
        raise SystemExit(1)
