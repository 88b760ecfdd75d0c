"""Helpers for the page tests: a small generated dataset and a real study database.

Not a test module (no ``test_`` prefix); ``test_pages.py`` and
``test_browser.py`` import it by path.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

#: the three methods of the test study: the original crop, a blurred and a noisy copy
METHODS = ("sharp", "blurred", "noisy")
SIZE = 160
#: scenario of each scene (DOMAIN taxonomy)
SCENARIOS = {"astronaut": "large face", "chelsea": "animal fur", "coffee": "food"}


def _crops() -> dict[str, np.ndarray]:
    from skimage import data

    out = {}
    for name, img in (("astronaut", data.astronaut()), ("chelsea", data.chelsea()), ("coffee", data.coffee())):
        h, w = img.shape[:2]
        y, x = (h - SIZE) // 2, (w - SIZE) // 2
        out[name] = np.ascontiguousarray(img[y:y + SIZE, x:x + SIZE, :3])
    return out


def make_dataset(root: Path, *, seed: int = 0) -> Path:
    """``root/gt``, ``root/lq`` (half size), ``root/methods/<m>/`` PNGs of three scenes, ``scenarios.csv``."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "scenarios.csv").write_text("".join(f"{k},{v}\n" for k, v in (("image", "scenario"), *SCENARIOS.items())))
    for sub in ("gt", "lq", *(f"methods/{m}" for m in METHODS)):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name, img in _crops().items():
        Image.fromarray(img).save(root / "gt" / f"{name}.png")
        Image.fromarray(img).resize((SIZE // 2, SIZE // 2), Image.BICUBIC).save(root / "lq" / f"{name}.png")
        blurred = gaussian_filter(img.astype(float), (2.0, 2.0, 0))
        noisy = img.astype(float) + rng.normal(0, 25, img.shape)
        outs = {"sharp": img.astype(float), "blurred": blurred, "noisy": noisy}
        for m in METHODS:
            arr = np.clip(np.round(outs[m]), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / "methods" / m / f"{name}.png")
    return root


def spec_text(dataset: Path, *, protocol: str = "pairwise", platform: str = "link", context: str = "lq",
              dimensions=("overall", "sharpness"), judgments: int = 4, min_ms: int = 0,
              scale: str = "acr5", ties: bool = True, both_bad: bool = True, code: str = "C0DE42") -> str:
    dims = "\n".join(f'[[dimensions]]\nname = "{d}"' for d in dimensions)
    study = (f'protocol = "pairwise"\ndesign = "random"\nties = {str(ties).lower()}\n'
             f'both_bad = {str(both_bad).lower()}' if protocol == "pairwise"
             else f'protocol = "rating"\nscale = "{scale}"')
    return textwrap.dedent(f"""\
        [study]
        name = "pages-test"
        description = "A test study."
        {study.replace(chr(10), chr(10) + '        ')}
        seed = 3
        judgments_per_session = {judgments}
        [stimuli]
        dataset = "{dataset.as_posix()}"
        methods = {list(METHODS)!r}
        context = "{context}"
        {dims.replace(chr(10), chr(10) + '        ')}
        [quality]
        min_ms_per_trial = {min_ms}
        [crowd]
        platform = "{platform}"
        completion_code = "{code}"
        """).replace("'", '"')


def make_study(db_url: str, dataset: Path, **spec) -> str:
    """Create a study with the backend's importer; returns its id."""
    from eyetest.store.engine import make_engine
    from eyetest.store.migrate import upgrade
    from eyetest.study.importer import create_study
    from eyetest.study.spec import parse_spec

    engine = make_engine(db_url)
    try:
        upgrade(engine)
        return create_study(engine, parse_spec(spec_text(dataset, **spec)))
    finally:
        engine.dispose()


# ---------------------------------------------------------------- browser tests
#: Debian's chromium, never a downloaded browser; the flags every browser test launches it with
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def need_browser() -> None:
    """Skip the calling test or fixture when chromium or Playwright for Python is missing."""
    import pytest

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedApp:
    """An ASGI app under uvicorn in a daemon thread on 127.0.0.1; ``url`` once started, ``stop()`` to end it."""

    def __init__(self, app, *, timeout: float = 20.0):
        import threading
        import time

        import uvicorn

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
