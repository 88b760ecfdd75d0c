"""Which images a study shows (:func:`select_images`) and the check of their scenario tags.

By default a study keeps the images every method of the spec has an output
of.  A human study needs no ground truth unless it is shown
(``context = "gt"``), so an output without a reference in ``gt/`` is kept
(scoring skips it).  Images left out of the default selection are reported
with the reason, and an image the spec lists that cannot be used is an error
saying why.
"""

from __future__ import annotations

from pathlib import Path

from eyetest.errors import SpecError


def _outputs(plan, dataset, root: Path) -> tuple[dict[str, dict[str, Path]], list]:
    """Method -> image -> output file, for the plan's methods, and the problems met listing them.

    The method folders are listed here rather than taken from ``dataset.items``,
    which leaves out every output without a reference in ``gt/``.
    """
    from eyetest.io.dataset import list_images

    problems: list = []
    outputs = {m: list_images(root / "methods" / m, problems, method=m)
               for m in plan.methods if (root / "methods" / m).is_dir()}
    missing = [m for m in plan.methods if not outputs.get(m)]
    if missing:
        raise SpecError("stimuli.methods", f"method {missing[0]!r} has no outputs in {str(root)!r} "
                                           f"(methods there: {', '.join(dataset.methods) or 'none'})")
    return outputs, problems


def select_images(plan, dataset, root: Path, notes: list) -> tuple[list[str], dict[str, dict[str, Path]]]:
    """The study's images and their outputs; images left out of the default selection go to ``notes``."""
    outputs, problems = _outputs(plan, dataset, root)

    def why_not(image: str) -> str | None:
        for m in plan.methods:
            if image not in outputs[m]:
                known = [p.reason for p in problems if p.image == image and p.method == m]
                return (f"method {m!r} has no output of it in {str(root / 'methods' / m)!r}"
                        + (f" ({known[0]})" if known else ""))
        if plan.context == "gt" and image not in dataset.references:
            return f"it has no reference in {str(root / 'gt')!r}, which stimuli.context = 'gt' shows"
        return None

    if plan.images is not None:
        for image in plan.images:
            reason = why_not(image)
            if reason:
                raise SpecError("stimuli.images", f"image {image!r} cannot be used: {reason}")
        return list(plan.images), outputs
    images, skipped = [], []
    for image in sorted(set().union(*outputs.values())):
        reason = why_not(image)
        if reason:
            skipped.append(f"image {image!r} skipped: {reason}")
        else:
            images.append(image)
    if not images:
        raise SpecError("stimuli.images", "no image can be used; " + (skipped[0] if skipped else "none found"))
    notes.extend(skipped)
    return images, outputs


def _check_taxonomy(plan, dataset, images, root: Path) -> None:
    allowed = set(plan.scenarios)
    for image in images:
        for tag in dataset.scenarios.get(image, ()):
            if tag not in allowed:
                raise SpecError("scenarios.taxonomy", f"image {image!r} is tagged {tag!r} in "
                                                      f"{str(root / 'scenarios.csv')!r}, which the taxonomy does "
                                                      f"not list ({', '.join(plan.scenarios)}); add the tag to "
                                                      "[scenarios] taxonomy or fix scenarios.csv")
