"""Trial schedulers, quality-control trial insertion and the rater simulator.

The public, stable entry point is :func:`eyetest.design.make_scheduler`.
"""

from __future__ import annotations

import inspect

from eyetest.core.design.active import ActiveScheduler
from eyetest.core.design.base import OUTCOME_SIGN, PairScheduler, block_labels
from eyetest.core.design.designs import FullScheduler, RandomScheduler, SwissScheduler
from eyetest.errors import SpecError, UnknownNameError

#: pairwise design name -> scheduler class
DESIGNS: dict[str, type[PairScheduler]] = {
    "full": FullScheduler,
    "random": RandomScheduler,
    "swiss": SwissScheduler,
    "active": ActiveScheduler,
}


def make_scheduler(design: str, conditions, *, seed: int, ties: bool = True, blocks=None,
                   **options) -> PairScheduler:
    """Make the pairwise scheduler called ``design`` (see :data:`DESIGNS`).

    ``options`` are design-specific keywords (``active``: ``prior_sd``, ``batch``,
    ``inference`` = ``"laplace"``/``"adf"``, ``utility`` = ``"misorder"``/``"ranking"``/``"eig"``).
    """
    try:
        cls = DESIGNS[design]
    except (KeyError, TypeError):
        raise UnknownNameError("design", str(design), DESIGNS) from None
    allowed = [p for p in inspect.signature(cls).parameters if p not in ("conditions", "seed", "ties", "blocks")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise SpecError(unknown[0], f"is not an option of design {design!r}; allowed: {', '.join(allowed) or 'none'}")
    return cls(conditions, seed=seed, ties=ties, blocks=blocks, **options)


__all__ = [
    "DESIGNS", "OUTCOME_SIGN", "ActiveScheduler", "FullScheduler", "PairScheduler",
    "RandomScheduler", "SwissScheduler", "block_labels", "make_scheduler",
]
