"""``eyetest study create|list|pause|resume|close|export``: manage studies in a database.

``eyetest study create SPEC.toml --db URL [--json]`` imports the stimuli into
the content-addressed image store and prints the study id (with ``--json``,
``{"study": "<id>"}`` as the last line); images left out and sessions shorter
than asked for are warnings on standard error.  The other commands open an
existing database only.
"""

from __future__ import annotations

import json

import click

DEFAULT_DB = "eyetest.sqlite"
db_option = click.option("--db", "db", default=DEFAULT_DB, show_default=True,
                         help="SQLite file path or postgresql:// URL.")


def _service(db, *, create: bool = False):
    """The service on ``db``; only ``study create`` may make a new SQLite file."""
    from eyetest.store.migrate import open_store
    from eyetest.study.service import StudyService

    return StudyService(open_store(db, create=create))


def _new_sqlite_file(db):
    """The SQLite file ``db`` names if it does not exist yet, else None (an existing file, a PostgreSQL URL)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from eyetest.store.engine import normalise_url

    try:
        url = make_url(normalise_url(db))
    except Exception:   # a malformed URL: open_store names it
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database)
    return None if path.exists() else path


def _discard_new_database(service, path) -> None:
    """Remove the SQLite file a failed ``study create`` has just made, if it holds no study.

    Otherwise the empty database would stay behind and a later ``eyetest serve``
    or ``study list`` on the mistyped or half-prepared path would open it
    without a word instead of saying that there is no database.
    """
    try:
        empty = not service.list_studies()
    except Exception:
        empty = False
    finally:
        service.engine.dispose()
    if empty:
        for suffix in ("", "-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)


@click.group("study")
def command():
    """Create, list, pause, close and export studies."""


@command.command("create")
@click.argument("spec", type=click.Path(dir_okay=False))
@db_option
@click.option("--json", "as_json", is_flag=True, help='Print {"study": "<id>"} as the last line.')
def create(spec, db, as_json):
    """Import a study spec's stimuli and plan the study."""
    from pathlib import Path

    from eyetest.study.importer import create_study
    from eyetest.study.spec import load_spec

    plan = load_spec(spec)
    new_file = _new_sqlite_file(db)
    service = _service(db, create=True)
    notes: list[str] = []
    try:
        study = create_study(service.engine, plan, base_dir=Path(spec).resolve().parent, notes=notes)
    except BaseException:
        if new_file is not None:   # a failed import leaves no new, empty database behind
            _discard_new_database(service, new_file)
        raise
    finally:
        service.engine.dispose()
    for note in notes:
        click.secho(f"warning: {note}", fg="yellow", err=True)
    if as_json:
        click.echo(json.dumps({"study": study}))
    else:
        click.echo(study)


@command.command("list")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(db, as_json):
    """List the studies with their status and counts."""
    service = _service(db)
    try:
        studies = service.list_studies()
    finally:
        service.engine.dispose()
    if as_json:
        click.echo(json.dumps({"studies": studies}))
        return
    for s in studies:
        click.echo(f"{s['study']}  {s['status']:<7} {s['sessions']:>6} sessions {s['judgments']:>8} judgments  "
                   f"{s['name']}")


def _status_command(name, status, doc):
    @command.command(name, help=doc)
    @click.argument("study")
    @db_option
    def run(study, db):
        service = _service(db)
        try:
            out = service.set_status(study, status)
        finally:
            service.engine.dispose()
        click.echo(f"{out['study']}: {out['status']}")

    return run


_status_command("pause", "paused", "Pause a study: no new sessions or trials until resumed.")
_status_command("resume", "open", "Reopen a paused study.")
_status_command("close", "closed", "Close a study for good: nothing more is stored.")


@command.command("export")
@click.argument("study")
@db_option
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Output file (written atomically); default: standard output.")
def export_(study, db, fmt, out):
    """Export every judgment of a study."""
    from eyetest.cli.outputs import write_errors
    from eyetest.io.outputs import check_writable
    from eyetest.study import export

    if out is not None:
        check_writable(out, "export file (--out)")
    service = _service(db)
    try:
        spec = service.study_spec(study)
        dims = [d["name"] for d in spec["plan"]["dimensions"]]
        with service.reader.connect() as conn:
            records = export.iter_records(conn, study)
            if fmt == "csv":
                data = "".join(export.to_csv(records, dims)).encode("utf-8")
            else:
                data = b"".join(export.to_jsonl(records))
    finally:
        service.engine.dispose()
    if out is None:
        click.echo(data.decode("utf-8"), nl=False)
    else:
        from eyetest.io.tables import atomic_write_bytes

        with write_errors(out):
            atomic_write_bytes(out, data)
        click.echo(f"wrote {out}", err=True)
