"""The wheel and the sdist carry every file the installed package reads, and the wheel works outside the checkout.

The build runs offline (``pip wheel --no-build-isolation --no-index``, the
``setuptools.build_meta`` backend called directly for the sdist) on a copy of
``pyproject.toml``, ``README.md``, ``LICENSE`` and ``src/``, so nothing is
written into the checkout.  What must be inside is found two ways: every file
under ``src/eyetest`` (other than byte code), and a hand-written list of the
data files eyetest opens at run time.  The installed package is exercised by
unpacking the wheel (a pure-Python wheel installs by unpacking) and running it
from a folder outside the checkout with ``PYTHONPATH`` pointing at it, so the
editable install of the checkout is not what is tested.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "eyetest"

#: data files eyetest reads at run time (parameter files with their licence / notice, templates,
#: static files, migrations), listed by hand so that the check does not rest on the walk alone
REQUIRED = (
    "eyetest/data/niqe/niqe_pristine_params.npz",
    "eyetest/data/niqe/LICENSE-BasicSR-Apache-2.0.txt",
    "eyetest/data/brisque/brisque_live_svr.npz",
    "eyetest/data/brisque/NOTICE-LIVE-BRISQUE.txt",
    "eyetest/report/templates/report.html",
    "eyetest/store/migrations/env.py",
    "eyetest/store/migrations/script.py.mako",
    "eyetest/store/migrations/versions/0001_initial.py",
    "eyetest/web/templates/base.html",
    "eyetest/web/templates/trial.html",
    "eyetest/web/templates/start.html",
    "eyetest/web/templates/done.html",
    "eyetest/web/templates/message.html",
    "eyetest/web/templates/admin.html",
    "eyetest/web/static/eyetest.css",
    "eyetest/web/static/common.js",
    "eyetest/web/static/rater.js",
    "eyetest/web/static/viewer.js",
    "eyetest/web/static/admin.js",
)


def _build_reason() -> str | None:
    """Why the offline build cannot run here (None when it can); nothing is imported into this process."""
    from importlib import metadata

    try:
        version = metadata.version("setuptools")
        files = {f.as_posix() for f in metadata.files("setuptools") or ()}
        metadata.version("pip")
    except metadata.PackageNotFoundError as exc:
        return f"{exc.name} is not installed, so the wheel cannot be built offline (--no-build-isolation)"
    if int(version.split(".")[0]) < 68:
        return f"setuptools {version} is older than the build backend needs (>=68)"
    # bdist_wheel: part of setuptools since 70.1, before that the separate `wheel` package
    if "setuptools/command/bdist_wheel.py" not in files and importlib.util.find_spec("wheel") is None:
        return f"setuptools {version} has no bdist_wheel and the wheel package is not installed"
    return None


def package_files() -> set[str]:
    """Every file of the package in the source tree, as ``eyetest/...`` (byte code left out)."""
    out = set()
    for path in PACKAGE.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            out.add("eyetest/" + path.relative_to(PACKAGE).as_posix())
    return out


def missing_from(names, *, prefix: str = "") -> list[str]:
    """Package files (walked and required) that are not among ``names`` (archive members)."""
    present = set(names)
    return sorted(f for f in package_files() | set(REQUIRED) if prefix + f not in present)


def _copy_project(dest: Path, *, pyproject: str | None = None) -> Path:
    dest.mkdir(parents=True)
    for name in ("README.md", "LICENSE", "MANIFEST.in"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "docs", dest / "docs")
    (dest / "pyproject.toml").write_text(pyproject if pyproject is not None
                                         else (REPO / "pyproject.toml").read_text())
    shutil.copytree(REPO / "src", dest / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    return dest


def build_wheel(project: Path, out: Path) -> Path:
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-q", "-w", str(out), str(project)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = list(out.glob("eyetest-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    reason = _build_reason()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("build")
    project = _copy_project(root / "project")
    wheel = build_wheel(project, root / "dist")
    proc = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
                           "print(build_meta.build_sdist(sys.argv[1]))", str(root / "dist")],
                          cwd=project, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sdist = root / "dist" / proc.stdout.strip().splitlines()[-1]
    return {"root": root, "wheel": wheel, "sdist": sdist}


def test_wheel_has_every_package_file(built):
    with zipfile.ZipFile(built["wheel"]) as zf:
        names = zf.namelist()
    assert not missing_from(names), f"not in the wheel: {missing_from(names)}"
    # nothing from outside the package (tests, docs, the shared reference data) is shipped as package data
    assert all(n.startswith(("eyetest/", "eyetest-")) for n in names), [n for n in names if "/" in n][:5]


def test_wheel_metadata_entry_point_and_licence(built):
    with zipfile.ZipFile(built["wheel"]) as zf:
        names = zf.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
        licence = zf.read(f"{info}/licenses/LICENSE").decode()
    assert "eyetest = eyetest.cli.main:cli" in entry_points
    assert licence == (REPO / "LICENSE").read_text()


def test_third_party_data_ships_with_its_licence(built):
    """Each folder of bundled parameter files carries a LICENSE or NOTICE file beside them."""
    with zipfile.ZipFile(built["wheel"]) as zf:
        names = [n for n in zf.namelist() if n.startswith("eyetest/data/")]
    folders = {n.rsplit("/", 1)[0] for n in names if n.endswith(".npz")}
    assert folders == {"eyetest/data/niqe", "eyetest/data/brisque"}
    for folder in folders:
        notices = [n for n in names if n.startswith(folder + "/")
                   and n.rsplit("/", 1)[1].upper().startswith(("LICENSE", "NOTICE"))]
        assert notices, f"{folder}: parameter files without a licence or notice file"


def test_sdist_has_every_package_file(built):
    with tarfile.open(built["sdist"]) as tf:
        names = tf.getnames()
    top = names[0].split("/")[0]
    assert not missing_from(names, prefix=f"{top}/src/"), missing_from(names, prefix=f"{top}/src/")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        assert f"{top}/{name}" in names
    # the README links the user guide in docs/: an sdist reader gets it too
    docs = sorted(p.name for p in (REPO / "docs").glob("*.md"))
    assert docs and [n for n in docs if f"{top}/docs/{n}" not in names] == []


def test_third_party_licences_are_in_the_wheel_metadata(built):
    """pip show / licence scanners read dist-info/licenses: the bundled data's licence and notice are there."""
    with zipfile.ZipFile(built["wheel"]) as zf:
        names = zf.namelist()
    info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    shipped = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "src/eyetest/data").glob("*/*")
                     if p.name.upper().startswith(("LICENSE", "NOTICE")))
    assert len(shipped) == 2
    assert [p for p in shipped if f"{info}/licenses/{p}" not in names] == []


def test_check_finds_package_data_left_out(tmp_path):
    """The check above can fail: a wheel built without the migrations' package-data lacks script.py.mako."""
    reason = _build_reason()
    if reason:
        pytest.skip(reason)
    text = (REPO / "pyproject.toml").read_text()
    assert '"store/migrations/**/*",' in text
    project = _copy_project(tmp_path / "project", pyproject=text.replace('"store/migrations/**/*",', ""))
    with zipfile.ZipFile(build_wheel(project, tmp_path / "dist")) as zf:
        missing = missing_from(zf.namelist())
    assert "eyetest/store/migrations/script.py.mako" in missing
    assert "eyetest/data/niqe/niqe_pristine_params.npz" not in missing


# -- the unpacked wheel, run from outside the checkout -----------------------------------------------


@pytest.fixture(scope="module")
def installed(built):
    """The wheel unpacked (what installing a pure-Python wheel does) and an environment that uses it."""
    site = built["root"] / "site"
    with zipfile.ZipFile(built["wheel"]) as zf:
        zf.extractall(site)
    work = built["root"] / "work"       # outside the checkout: nothing relative to it can be found
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "EYETEST_CACHE_DIR": str(built["root"] / "cache"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    return {"site": site, "work": work, "env": env}


def _run(installed, *args, timeout=600):
    return subprocess.run([sys.executable, *args], cwd=installed["work"], env=installed["env"],
                          capture_output=True, text=True, timeout=timeout)


def _tiny_dataset(root: Path) -> Path:
    import numpy as np
    from PIL import Image
    from skimage import data

    for sub in ("gt", "lq", "methods/sharp", "methods/blurred"):
        (root / sub).mkdir(parents=True)
    for name, img in (("astronaut", data.astronaut()), ("coffee", data.coffee())):
        crop = np.ascontiguousarray(img[:96, :96, :3])
        Image.fromarray(crop).save(root / "gt" / f"{name}.png")
        Image.fromarray(crop).save(root / "methods" / "sharp" / f"{name}.png")
        Image.fromarray(crop).resize((48, 48)).save(root / "lq" / f"{name}.png")
        Image.fromarray(crop).resize((48, 48)).resize((96, 96)).save(root / "methods" / "blurred" / f"{name}.png")
    return root


SMOKE = textwrap.dedent('''\
    import re, sys
    from pathlib import Path

    site, db, study = Path(sys.argv[1]).resolve(), sys.argv[2], sys.argv[3]
    import eyetest
    assert Path(eyetest.__file__).resolve().is_relative_to(site), eyetest.__file__

    from eyetest.io.resources import RESOURCES, load_resource
    for name in RESOURCES:
        load_resource(name)                        # present, and its SHA256 is the pinned one
    from skimage import data
    from eyetest.metrics import score
    img = data.camera()[:128, :128]
    print("niqe", score("niqe", img, data_range=255), "brisque", score("brisque", img, data_range=255))

    from eyetest.report.html import _environment
    _environment().get_template("report.html")

    from starlette.testclient import TestClient
    from eyetest.web.app import create_app
    with TestClient(create_app(db, admin_token="x" * 24)) as client:
        page = client.get(f"/study/{study}")
        assert page.status_code == 200, page.status_code
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
        assert any(a.startswith("/static/eyetest.css") for a in assets), assets
        for url in assets:
            assert client.get(url).status_code == 200, url
    print("ok")
    ''')


def test_installed_wheel_works_outside_the_checkout(installed, tmp_path):
    """From the unpacked wheel: the CLI, the parameter files, migrations, templates and static files."""
    res = _run(installed, "-m", "eyetest", "--help")
    assert res.returncode == 0 and "demo" in res.stdout, res.stderr
    res = _run(installed, "-m", "eyetest", "metrics", "--json")
    assert res.returncode == 0 and '"niqe"' in res.stdout, res.stderr
    dataset = _tiny_dataset(tmp_path / "ds")
    spec = tmp_path / "study.toml"
    spec.write_text(textwrap.dedent(f"""\
        [study]
        name = "wheel-smoke"
        protocol = "pairwise"
        design = "random"
        judgments_per_session = 2
        [stimuli]
        dataset = "{dataset.as_posix()}"
        methods = ["sharp", "blurred"]
        context = "lq"
        [crowd]
        platform = "link"
        """))
    db = tmp_path / "study.sqlite"
    res = _run(installed, "-m", "eyetest", "study", "create", str(spec), "--db", str(db), "--json")
    assert res.returncode == 0, res.stderr                    # the alembic migrations ran from the wheel
    study = res.stdout.strip().splitlines()[-1].split('"')[3]
    script = tmp_path / "smoke.py"
    script.write_text(SMOKE)
    res = _run(installed, str(script), str(installed["site"]), str(db), study)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stdout + res.stderr


@pytest.mark.slow
def test_demo_runs_from_the_installed_wheel(installed):
    res = _run(installed, "-m", "eyetest", "demo", "--out", "demo", "--workers", "1", "--no-cache", "-q")
    assert res.returncode == 0, res.stdout + res.stderr
    out = installed["work"] / "demo"
    assert res.stdout.strip() == f"report: {Path('demo') / 'report.html'}"
    html = (out / "report.html").read_text()
    for section in ("metrics", "audit", "human", "alignment"):
        assert f'<section id="{section}" data-present="yes"' in html, section
    assert "niqe" in (out / "results.csv").read_text()
