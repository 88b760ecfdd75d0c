"""Which method and metric names a report's inputs hold (to check ``compare`` and metric directions).

A head-to-head view of a method no input has would be a section of zero
votes, and a metric direction for a metric that is not there would be
ignored; both are typos, so :func:`build_report` and ``eyetest report``
refuse them, listing the names that exist.  Conditions of gold and training
trials (e.g. a study's ``gt`` vs ``gold-blur``) are not methods: the report
leaves them out of every analysis.
"""

from __future__ import annotations

from eyetest.errors import SpecError

#: judgment flags of trials whose conditions are no methods to compare (attention checks are exported as gold)
NOT_COMPARED_FLAGS = ("is_gold", "is_training")


def method_names(frame) -> set[str]:
    """Method names of a table: its method columns, and the method part of ``image::method`` ids."""
    from eyetest.core.judgments.model import CONDITION_SEP, split_condition_id

    names: set[str] = set()
    for col in ("method", "method_a", "method_b"):
        if col in frame.columns:
            names.update(frame[col].dropna().astype(str))
    for col in ("condition", "condition_a", "condition_b"):
        if col in frame.columns:
            names.update(split_condition_id(c)[1] if CONDITION_SEP in c else c
                         for c in frame[col].dropna().astype(str))
    return names


def judged(judgments):
    """The judgments without the trials of :data:`NOT_COMPARED_FLAGS`."""
    for flag in NOT_COMPARED_FLAGS:
        if flag in judgments.columns:
            judgments = judgments[~judgments[flag].astype(bool)]
    return judgments


def input_methods(inputs) -> set[str]:
    """Method names a user can compare: those of the scores, of the judgments (gold and training
    trials left out) and of the scale."""
    names: set[str] = set()
    for frame in (inputs.scores, None if inputs.judgments is None else judged(inputs.judgments), inputs.scale):
        if frame is not None:
            names |= method_names(frame)
    return names


def input_metrics(inputs) -> set[str]:
    """Metric names of the score and audit tables among the report's inputs."""
    names: set[str] = set()
    for frame in (inputs.scores, inputs.audit):
        if frame is not None and "metric" in frame.columns:
            names.update(frame["metric"].dropna().astype(str))
    return names


def unknown_method_message(inputs, pair) -> str | None:
    """Why ``pair`` cannot be compared (its first unknown method), or None when both are methods."""
    known = input_methods(inputs)
    unknown = [m for m in pair if m not in known]
    if not unknown:
        return None
    name = unknown[0]
    where = ("is a condition of gold or training trials only, not a method"
             if inputs.judgments is not None and name in method_names(inputs.judgments)
             else "is in none of the report's inputs")
    return f"method {name!r} {where}; methods: {', '.join(sorted(known)) or 'none'}"


def check_compare(inputs, pair, *, key: str) -> None:
    """Raise :class:`~eyetest.errors.SpecError` naming ``key`` if ``pair`` is not two known methods."""
    if len(pair) != 2:
        raise SpecError(key, f"expected two method names, got {list(pair)!r}")
    message = unknown_method_message(inputs, pair)
    if message:
        raise SpecError(key, message)
