"""A small, offline demo dataset built from scikit-image's bundled images.

:func:`build_demo_dataset` writes the DESIGN.md layout::

    DIR/gt/<image>.png                 crops of scikit-image sample images
    DIR/lq/<image>.png                 x4 bicubic down-sampling (Pillow, antialiased)
    DIR/methods/bicubic/<image>.png    x4 bicubic up-sampling of lq
    DIR/methods/lanczos/<image>.png    x4 Lanczos up-sampling of lq
    DIR/methods/bicubic-usm/<image>.png  bicubic + unsharp mask: a "gamed" output
                                       that sharpens without restoring anything
    DIR/scenarios.csv, DIR/methods.csv

The unsharp-masked method is there on purpose: it is no closer to the
reference than plain bicubic, yet some no-reference metrics prefer it (see
DOMAIN.md).  :func:`run_demo` builds the dataset and scores it with the
default metrics.  The builders are reusable by the full demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eyetest.io.dataset import write_image, write_tables


@dataclass(frozen=True)
class DemoImage:
    """A crop of a scikit-image sample with its scenario tags."""

    name: str
    loader: str  # function name in skimage.data
    rows: tuple[int, int]
    cols: tuple[int, int]
    scenarios: tuple[str, ...]


DEMO_IMAGES = (
    DemoImage("astronaut", "astronaut", (0, 320), (96, 416), ("medium face",)),
    DemoImage("chelsea", "chelsea", (0, 300), (0, 448), ("animal fur",)),
    DemoImage("coffee", "coffee", (40, 360), (60, 540), ("food", "reflective glass")),
    DemoImage("rocket", "rocket", (60, 380), (160, 480), ("architecture",)),
    DemoImage("page", "page", (0, 188), (0, 384), ("text", "print media")),
    DemoImage("brick", "brick", (0, 256), (0, 256), ("complex texture",)),
    DemoImage("grass", "grass", (0, 256), (0, 256), ("trees & leaves",)),
)

#: method -> family, as written to methods.csv
DEMO_METHODS = {"bicubic": "other", "lanczos": "other", "bicubic-usm": "other"}


def load_demo_image(spec: DemoImage, *, scale: int = 4) -> np.ndarray:
    """The ground-truth crop (uint8), trimmed to a multiple of ``scale``."""
    from skimage import data

    arr = getattr(data, spec.loader)()[slice(*spec.rows), slice(*spec.cols)]
    h, w = arr.shape[:2]
    return np.ascontiguousarray(arr[: h - h % scale, : w - w % scale])


def degrade(gt: np.ndarray, *, scale: int = 4) -> np.ndarray:
    """x``scale`` bicubic down-sampling (Pillow's resize, antialiased)."""
    from PIL import Image

    im = Image.fromarray(gt)
    return np.asarray(im.resize((im.width // scale, im.height // scale), Image.Resampling.BICUBIC))


def restore(lq: np.ndarray, method: str, *, scale: int = 4) -> np.ndarray:
    """Up-sample ``lq`` by ``scale`` with one of :data:`DEMO_METHODS`."""
    from PIL import Image, ImageFilter

    im = Image.fromarray(lq)
    size = (im.width * scale, im.height * scale)
    if method == "bicubic":
        out = im.resize(size, Image.Resampling.BICUBIC)
    elif method == "lanczos":
        out = im.resize(size, Image.Resampling.LANCZOS)
    elif method == "bicubic-usm":
        out = im.resize(size, Image.Resampling.BICUBIC).filter(
            ImageFilter.UnsharpMask(radius=2, percent=200, threshold=0))
    else:
        raise ValueError(f"unknown demo method {method!r}; known: {', '.join(DEMO_METHODS)}")
    return np.asarray(out)


def build_demo_dataset(root, *, scale: int = 4, images=DEMO_IMAGES,
                       methods=tuple(DEMO_METHODS)) -> Path:
    """Write the demo dataset under ``root`` (see the module docstring); return ``root``."""
    root = Path(root)
    for spec in images:
        gt = load_demo_image(spec, scale=scale)
        lq = degrade(gt, scale=scale)
        write_image(root, spec.name, gt, lq, {method: restore(lq, method, scale=scale) for method in methods})
    write_tables(root, {spec.name: spec.scenarios for spec in images},
                 {m: DEMO_METHODS.get(m, 'other') for m in methods})
    return root


def run_demo(out_dir, *, workers: int | None = None, cache=None, progress: bool = False,
             metrics=None, preset: str = "matlab", images=DEMO_IMAGES):
    """Build the dataset in ``out_dir/dataset``, score it, write ``out_dir/results.csv``.

    Returns ``(run, table_path, manifest_path)``.
    """
    from eyetest.io.dataset import discover
    from eyetest.run.score import score_dataset, write_outputs

    out_dir = Path(out_dir)
    root = build_demo_dataset(out_dir / "dataset", images=images)
    run = score_dataset(discover(root), metrics=metrics, preset=preset, workers=workers,
                        cache=cache, progress=progress)
    table, manifest = write_outputs(run, out_dir / "results.csv")
    return run, table, manifest
