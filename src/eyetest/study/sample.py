"""A tiny synthetic study (dataset + spec) for tests, benchmarks and trying the server.

:func:`write_sample_dataset` writes the DESIGN.md layout with smooth random
images: ``gt/``, ``lq/`` and one folder per method (the methods are the
reference plus increasing noise, so a real ranking exists), ``scenarios.csv``
and ``methods.csv``.  With ``mixed_formats`` the first image of the second
method is a 16-bit PNG and of the third a TIFF, to exercise the conversion to
browser-safe 8-bit PNG.  :func:`write_sample_spec` writes a spec for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLE_SCENARIOS = ("text", "food", "architecture", "animal fur")


def _smooth(rng: np.random.Generator, shape) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    noise = rng.random((shape[0], shape[1], 3))
    img = gaussian_filter(noise, (3, 3, 0))
    img = (img - img.min()) / max(img.max() - img.min(), 1e-9)
    return img


def write_sample_dataset(root, *, images: int = 3, methods=("alpha", "beta", "gamma"), size=(48, 64),
                         seed: int = 0, mixed_formats: bool = True) -> Path:
    """Write the sample dataset under ``root``; returns ``root``."""
    from PIL import Image as PILImage

    root = Path(root)
    rng = np.random.default_rng(seed)
    for sub in ["gt", "lq", *(f"methods/{m}" for m in methods)]:
        (root / sub).mkdir(parents=True, exist_ok=True)
    rows, fams = ["image,scenario"], ["method,family"]
    for k in range(images):
        name = f"img{k:02d}"
        gt = _smooth(rng, size)
        PILImage.fromarray((gt * 255).round().astype(np.uint8)).save(root / "gt" / f"{name}.png")
        lq = PILImage.fromarray((gt * 255).round().astype(np.uint8)).resize((size[1] // 2, size[0] // 2))
        lq.save(root / "lq" / f"{name}.png")
        rows.append(f"{name},{SAMPLE_SCENARIOS[k % len(SAMPLE_SCENARIOS)]}")
        for m, method in enumerate(methods):
            out = np.clip(gt + rng.normal(0, 0.04 * m, gt.shape), 0, 1)
            folder = root / "methods" / method
            if mixed_formats and k == 0 and m == 1:
                _write_png16(folder / f"{name}.png", (out * 65535).round().astype(np.uint16))
            elif mixed_formats and k == 0 and m == 2:
                PILImage.fromarray((out * 255).round().astype(np.uint8)).save(folder / f"{name}.tif")
            else:
                PILImage.fromarray((out * 255).round().astype(np.uint8)).save(folder / f"{name}.png")
    for m, method in enumerate(methods):
        fams.append(f"{method},{('psnr-oriented', 'gan', 'diffusion')[m % 3]}")
    (root / "scenarios.csv").write_text("\n".join(rows) + "\n")
    (root / "methods.csv").write_text("\n".join(fams) + "\n")
    return root


def _write_png16(path: Path, array: np.ndarray) -> None:
    import png

    h, w, c = array.shape
    with path.open("wb") as fh:
        png.Writer(width=w, height=h, bitdepth=16, greyscale=False).write(fh, array.reshape(h, w * c).tolist())


def write_sample_spec(path, dataset, *, name: str = "sample", protocol: str = "pairwise",
                      methods=("alpha", "beta", "gamma"), extra: str = "", study: str = "",
                      quality: str = "", crowd: str = 'platform = "link"\ncompletion_code = "DONE-1234"',
                      dimensions=("overall",), context: str = "lq") -> Path:
    """Write a spec TOML for the sample dataset; returns its path."""
    path = Path(path)
    dims = "".join(f'[[dimensions]]\nname = "{d}"\n' for d in dimensions)
    text = (f'[study]\nname = "{name}"\nprotocol = "{protocol}"\nseed = 7\n{study}\n'
            f'[stimuli]\ndataset = "{Path(dataset).as_posix()}"\nmethods = {list(methods)!r}\n'
            f'context = "{context}"\n\n{dims}\n[quality]\n{quality}\n\n[crowd]\n{crowd}\n{extra}\n')
    path.write_text(text.replace("'", '"'))
    return path


def create_sample_study(url_or_engine, folder, *, dataset_kwargs=None, **spec_kwargs) -> str:
    """Write the sample dataset and spec under ``folder``, create the study; returns its id."""
    from eyetest.store.engine import make_engine
    from eyetest.store.migrate import upgrade
    from eyetest.study.importer import create_study
    from eyetest.study.spec import load_spec

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dataset = write_sample_dataset(folder / "dataset", **(dataset_kwargs or {})).resolve()
    spec = write_sample_spec(folder / f"{spec_kwargs.get('name', 'sample')}.toml", dataset, **spec_kwargs)
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, (str, Path)) else url_or_engine
    try:
        upgrade(engine)
        return create_study(engine, load_spec(spec), base_dir=folder)
    finally:
        if engine is not url_or_engine:
            engine.dispose()
