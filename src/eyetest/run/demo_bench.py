"""The demo benchmark: scikit-image's bundled images, degraded and restored.

:func:`build_benchmark` writes the DESIGN.md dataset layout from images that
ship with scikit-image (no network), each tagged with scenarios::

    DIR/gt/<image>.png              ~256 px crops (or downscaled wholes) of the samples
    DIR/lq/<image>.png              x4 bicubic down-sampling (antialiased), then
                                    Gaussian noise (sigma 2 levels) and JPEG (quality 85)
    DIR/methods/<method>/<image>.png
    DIR/scenarios.csv, DIR/methods.csv

Methods (:data:`BENCH_METHODS`):

=================  =============  ==========================================================
bicubic            other          x4 bicubic up-sampling of the input (Pillow)
lanczos            other          x4 Lanczos up-sampling (Pillow)
ibp                psnr-oriented  iterative back-projection (Irani & Peleg, CVGIP 1991):
                                  ``x <- x + U(y - D(x))``, 12 steps, D/U bicubic
bicubic-usm        other          GAMED: bicubic + unsharp mask (amount 1.5, radius 1.5);
                                  sharper, restores nothing
ibp-overgen        gan            GAMED: ibp + synthetic over-generation (band-limited
                                  texture, 10 levels RMS, in textured regions): a stand-in
                                  for GAN-style hallucinated detail, not a GAN
=================  =============  ==========================================================

The gamed variants are there on purpose: they move no-reference metrics
without bringing the output closer to the scene (see DOMAIN.md and the
metric audit).  Families must be one of ``io.dataset.FAMILIES``, so the
texture-hallucinating stand-in is filed under ``gan``; the report prints the
descriptions above next to the family.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eyetest.io.dataset import write_image, write_tables

SCALE = 4


@dataclass(frozen=True)
class BenchImage:
    """A scikit-image sample, how to cut it to ~``size`` px, and its scenario tags.

    ``crop`` is ``(row0, col0)`` of a ``size`` x ``size`` window (clipped to
    the image); ``crop=None`` resizes the whole image so its longer side is
    ``size`` (antialiased), for images whose content is the whole frame.
    """

    name: str
    loader: str
    scenarios: tuple[str, ...]
    crop: tuple[int, int] | None = (0, 0)


BENCH_IMAGES = (
    BenchImage("astronaut", "astronaut", ("medium face",), (10, 120)),
    BenchImage("chelsea", "chelsea", ("animal fur",), (20, 110)),
    BenchImage("cat", "cat", ("animal fur",), (30, 180)),
    BenchImage("coffee", "coffee", ("food",), (70, 170)),
    BenchImage("rocket", "rocket", ("architecture",), (100, 200)),
    BenchImage("camera", "camera", ("medium face",), (0, 128)),
    BenchImage("page", "page", ("text", "print media"), (0, 60)),
    BenchImage("brick", "brick", ("complex texture",), (64, 64)),
    BenchImage("gravel", "gravel", ("complex texture",), (128, 128)),
    BenchImage("grass", "grass", ("trees & leaves",), (0, 0)),
    BenchImage("hubble", "hubble_deep_field", ("astronomy",), (300, 400)),
    BenchImage("retina", "retina", ("medical",), None),
    BenchImage("clock", "clock", ("motion blur",), None),
    BenchImage("colorwheel", "colorwheel", ("cartoon/comic",), None),
    BenchImage("logo", "logo", ("cartoon/comic",), None),
)

#: method -> (family, description)
BENCH_METHODS = {
    "bicubic": ("other", "x4 bicubic up-sampling (Pillow)"),
    "lanczos": ("other", "x4 Lanczos up-sampling (Pillow)"),
    "ibp": ("psnr-oriented", "iterative back-projection, 12 steps (Irani & Peleg 1991)"),
    "bicubic-usm": ("other", "GAMED: bicubic + unsharp mask (amount 1.5, radius 1.5 px)"),
    "ibp-overgen": ("gan", "GAMED: ibp + synthetic over-generated texture (10 levels RMS); "
                           "a stand-in for GAN-style hallucination, not a GAN"),
}
GAMED = ("bicubic-usm", "ibp-overgen")
LQ_NOISE_LEVELS = 2.0
LQ_JPEG_QUALITY = 85


def _rng(seed: int, *names: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed] + [zlib.crc32(n.encode()) for n in names]))


def load_bench_image(spec: BenchImage, *, size: int = 256) -> np.ndarray:
    """The ground truth (uint8, grey or RGB), trimmed to a multiple of :data:`SCALE`."""
    from PIL import Image
    from skimage import data

    arr = np.asarray(getattr(data, spec.loader)())
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.ndim == 3 and arr.shape[2] == 4:  # logo: composite on white
        alpha = arr[..., 3:4].astype(np.float64) / 255.0
        arr = np.round(arr[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    if spec.crop is None:
        im = Image.fromarray(arr)
        f = size / max(im.width, im.height)
        arr = np.asarray(im.resize((max(SCALE, round(im.width * f)), max(SCALE, round(im.height * f))),
                                   Image.Resampling.LANCZOS))
    else:
        r0, c0 = spec.crop
        arr = arr[r0:r0 + size, c0:c0 + size]
    h, w = arr.shape[:2]
    return np.ascontiguousarray(arr[: h - h % SCALE, : w - w % SCALE])


def degrade(gt: np.ndarray, *, seed: int, name: str) -> np.ndarray:
    """x4 bicubic down (antialiased), Gaussian noise, JPEG: the demo's input."""
    from eyetest.core.manipulate import jpeg, noise
    from eyetest.run.demo import degrade as bicubic_down

    lq = bicubic_down(gt, scale=SCALE)
    lq = noise(lq, data_range=255.0, strength=LQ_NOISE_LEVELS, rng=_rng(seed, name, "noise"))
    return jpeg(lq, data_range=255.0, strength=100 - LQ_JPEG_QUALITY)


def _pil_resize(x: np.ndarray, size: tuple[int, int], method) -> np.ndarray:
    """Resize a float array (H, W[, C]) channel by channel with Pillow's float mode."""
    from PIL import Image

    chans = x[..., None] if x.ndim == 2 else x
    out = [np.asarray(Image.fromarray(np.ascontiguousarray(chans[..., c], np.float32), mode="F")
                      .resize(size, method), dtype=np.float64) for c in range(chans.shape[2])]
    y = np.stack(out, axis=-1)
    return y[..., 0] if x.ndim == 2 else y


def back_projection(lq: np.ndarray, *, steps: int = 12) -> np.ndarray:
    """Iterative back-projection super-resolution (Irani & Peleg, CVGIP 53(3), 1991).

    ``x_0 = U(y)``, ``x_{k+1} = x_k + U(y - D(x_k))`` with ``D`` the x4
    bicubic reduction and ``U`` the x4 bicubic enlargement; the result is
    consistent with the input (``D(x) ~ y``), the PSNR-oriented classic.
    """
    from PIL import Image

    y = lq.astype(np.float64)
    h, w = lq.shape[:2]
    big, small = (w * SCALE, h * SCALE), (w, h)
    up = lambda a: _pil_resize(a, big, Image.Resampling.BICUBIC)
    x = up(y)
    for _ in range(steps):
        x = x + up(y - _pil_resize(x, small, Image.Resampling.BICUBIC))
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def restore(lq: np.ndarray, method: str, *, seed: int = 0, name: str = "") -> np.ndarray:
    """Restore ``lq`` (x4) with one of :data:`BENCH_METHODS`."""
    from eyetest.core.manipulate import overgenerate, unsharp_mask
    from eyetest.errors import UnknownNameError
    from eyetest.run.demo import restore as interpolate

    if method in ("bicubic", "lanczos"):
        return interpolate(lq, method, scale=SCALE)
    if method == "ibp":
        return back_projection(lq)
    if method == "bicubic-usm":
        return unsharp_mask(interpolate(lq, "bicubic", scale=SCALE), data_range=255.0, strength=1.5,
                            radius=1.5)
    if method == "ibp-overgen":
        return overgenerate(back_projection(lq), data_range=255.0, strength=10.0,
                            rng=_rng(seed, name, "overgen"))
    raise UnknownNameError("demo method", method, BENCH_METHODS)


def build_benchmark(root, *, images=BENCH_IMAGES, methods=tuple(BENCH_METHODS), size: int = 256,
                    seed: int = 0) -> Path:
    """Write the benchmark under ``root`` (see module docstring); return ``root``."""
    root = Path(root)
    for spec in images:
        gt = load_bench_image(spec, size=size)
        lq = degrade(gt, seed=seed, name=spec.name)
        write_image(root, spec.name, gt, lq, {method: restore(lq, method, seed=seed, name=spec.name) for method in methods})
    write_tables(root, {spec.name: spec.scenarios for spec in images},
                 {m: BENCH_METHODS[m][0] for m in methods})
    return root


# --- simulated human panel --------------------------------------------------------------

#: Perceptual dimensions judged by the simulated panel.
PANEL_DIMENSIONS = ("overall", "naturalness", "sharpness", "detail realism")
#: Weights of the standardised image features in the latent quality of each dimension:
#: (fidelity, recovered detail, invented detail, high-frequency energy).
QUALITY_WEIGHTS = {
    "overall": (1.0, 0.6, -0.8, 0.0),
    "naturalness": (0.6, 0.2, -1.2, 0.0),
    "sharpness": (0.2, 0.4, 0.0, 1.0),
    "detail realism": (0.5, 1.0, -0.8, 0.0),
}
#: Scenarios where crisp edges matter to people (legibility, flat graphics): the
#: overall quality also gets this weight on high-frequency energy.
EDGE_SCENARIOS = {"text": 0.7, "print media": 0.7, "cartoon/comic": 0.7}


def _luma(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return a if a.ndim == 2 else a[..., :3] @ np.array([0.299, 0.587, 0.114])


def image_features(output: np.ndarray, reference: np.ndarray, *, sigma: float = 1.5) -> dict:
    """Measured properties of one restored image against its reference (luma, 8-bit).

    With ``h(x) = x - G_sigma * x`` the high-pass detail band:

    * ``fidelity``: SSIM (Wang et al., IEEE TIP 2004; scikit-image, Gaussian
      window) of output and reference;
    * ``detail``: recovered true detail, the least-squares gain of ``h(ref)``
      in ``h(out)``: ``<h(out), h(ref)> / ||h(ref)||^2``;
    * ``invented``: detail uncorrelated with the reference, the RMS of
      ``h(out) - detail * h(ref)`` relative to the RMS of ``h(ref)``;
    * ``energy``: RMS of ``h(out)`` relative to that of ``h(ref)`` (what
      looks sharp, real or not).
    """
    from scipy import ndimage
    from skimage.metrics import structural_similarity

    out, ref = _luma(output), _luma(reference)
    ho = out - ndimage.gaussian_filter(out, sigma)
    hr = ref - ndimage.gaussian_filter(ref, sigma)
    er = float((hr ** 2).mean()) or 1e-12
    gain = float((ho * hr).mean()) / er
    return {"fidelity": float(structural_similarity(out, ref, data_range=255.0, gaussian_weights=True,
                                                    sigma=1.5, use_sample_covariance=False)),
            "detail": gain,
            "invented": float(np.sqrt(((ho - gain * hr) ** 2).mean() / er)),
            "energy": float(np.sqrt((ho ** 2).mean() / er))}


def latent_quality(features, *, scenarios: dict, dimensions=PANEL_DIMENSIONS, scale: float = 0.8):
    """The simulated panel's latent quality from measured features (documented mix).

    ``features``: DataFrame ``image, method, fidelity, detail, invented,
    energy``.  Each feature is standardised within its image (z-score over the
    methods; fidelity and detail in their own units would let one image
    dominate), then ``q[d] = scale * (w_f z_fid + w_d z_detail + w_i
    z_invented + w_e z_energy)`` with the weights of :data:`QUALITY_WEIGHTS`,
    plus :data:`EDGE_SCENARIOS` weight on ``z_energy`` for the overall
    dimension of images in those scenarios.  Units: 1 = the sd of one
    perceived difference of an average simulated rater.  The mix is an
    assumption of the demo (people value fidelity and real detail, dislike
    invented texture and halos, and judge sharpness by high-frequency energy),
    not a measurement of people; the report labels everything it drives
    "simulated".

    Returns a :class:`~eyetest.core.design.simulator.LatentTruth`.
    """
    from eyetest.core.design.simulator import LatentTruth

    f = features.copy()
    cols = ("fidelity", "detail", "invented", "energy")
    for c in cols:
        g = f.groupby("image")[c]
        sd = g.transform("std").replace(0.0, 1.0).fillna(1.0)
        f["z_" + c] = (f[c] - g.transform("mean")) / sd
    images = tuple(dict.fromkeys(f["image"]))
    methods = tuple(dict.fromkeys(f["method"]))
    q = np.zeros((len(images), len(methods), len(dimensions)))
    for _, row in f.iterrows():
        i, m = images.index(row["image"]), methods.index(row["method"])
        tags = scenarios.get(row["image"], ())
        for d, dim in enumerate(dimensions):
            w = list(QUALITY_WEIGHTS[dim])
            if dim == "overall":
                w[3] += max([EDGE_SCENARIOS.get(t, 0.0) for t in tags], default=0.0)
            q[i, m, d] = scale * sum(wk * row["z_" + c] for wk, c in zip(w, cols))
    first = tuple((scenarios.get(i) or ("",))[0] for i in images)
    return LatentTruth(images, methods, tuple(dimensions), first, q)


def simulate_panel(truth, *, rng: np.random.Generator, raters: int = 24, pairs_per_rater: int = 90,
                   gold_per_rater: int = 5, repeats_per_rater: int = 6, random_share: float = 0.1):
    """Simulated pairwise judgments (every dimension per trial) with gold and repeat trials.

    Pairs are two methods on the same image, drawn without replacement per
    rater, sides at random.  Gold trials compare ``<image>::gt`` with
    ``<image>::gold-blur`` (expected ``a``).  Repeats re-show an earlier pair
    with sides swapped.  Raters follow :class:`~eyetest.core.design.simulator.RaterModel`
    with a tie band calibrated to ~20 % ties and ``random_share`` random
    clickers.  Every row carries ``source = "simulated"``.
    """
    import pandas as pd

    from eyetest.core.design.simulator import RaterModel, RaterSimulator, calibrate_tie_threshold
    from eyetest.core.judgments.model import condition_id

    all_pairs = [(img, a, b) for img in truth.images for k, a in enumerate(truth.methods)
                 for b in truth.methods[k + 1:]]
    d_over = truth.dimensions.index("overall") if "overall" in truth.dimensions else 0
    qi = {(i, m): truth.quality[a, b, d_over] for a, i in enumerate(truth.images)
          for b, m in enumerate(truth.methods)}
    tie = calibrate_tie_threshold([qi[(i, a)] - qi[(i, b)] for i, a, b in all_pairs], 0.2)
    sim = RaterSimulator(truth, model=RaterModel(tie_threshold=tie, random_share=random_share,
                                                 position_bias_sd=0.1), rng=rng)
    frames = []
    for r in range(raters):
        rater = sim.add_rater(f"sim{r:02d}")
        chosen = rng.choice(len(all_pairs), size=min(pairs_per_rater, len(all_pairs)), replace=False)
        trials = []
        for k in chosen:
            img, a, b = all_pairs[k]
            if rng.random() < 0.5:
                a, b = b, a
            trials.append((condition_id(img, a), condition_id(img, b), None, False))
        for img in rng.choice(truth.images, size=gold_per_rater, replace=True):
            trials.append((condition_id(img, "gt"), condition_id(img, "gold-blur"), "a", False))
        for k in rng.choice(len(chosen), size=min(repeats_per_rater, len(chosen)), replace=False):
            ca, cb, _, _ = trials[k]
            trials.append((cb, ca, None, True))
        order = rng.permutation(len(trials))
        trials = [trials[k] for k in order]
        for dim in truth.dimensions:
            frames.append(sim.judge_pairs([rater] * len(trials), list(range(len(trials))),
                                          [t[0] for t in trials], [t[1] for t in trials], dimension=dim,
                                          expected=[t[2] for t in trials], is_repeat=[t[3] for t in trials]))
    out = pd.concat(frames, ignore_index=True)
    out["source"] = "simulated"
    return out
