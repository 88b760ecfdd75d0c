"""``eyetest plan``: how many judgments and raters a pairwise or rating study needs.

Simulates studies with the rater simulator (``eyetest.core.design``) and
reports, for each design, the judgments (and rater sessions) at which the
median simulated study reaches the target Kendall tau against the true
ranking and the target mean 95 % CI width of the scores (in JOD).  Rating
studies (``protocol = "rating"`` in the spec, or ``--protocol rating``) get
one row, the server's balanced-block design, with the MOS ranking and the
mean 95 % t-interval width of the MOS in the scale's units
(:mod:`eyetest.core.design.rating_plan`).
"""

from __future__ import annotations

import click

#: default rows: every design, and the active sampler also with the information-gain utility,
#: which narrows score intervals faster than the ranking-oriented default (docs/study-design.md)
DEFAULT_DESIGNS = ("full", "random", "swiss", "active", "active:eig")


def parse_designs(text: str, active_utility: str) -> list[tuple[str, str, dict | None]]:
    """``"random,active,active:eig"`` -> ``(label, design, options)`` triples for ``plan_designs``.

    ``active`` alone is the sampler with ``active_utility`` (the spec's, else
    the default); ``active:<utility>`` names one of
    :data:`eyetest.core.design.active.UTILITIES`.  Entries that resolve to the
    same sampler are kept once.
    """
    from eyetest.core.design import DESIGNS
    from eyetest.core.design.active import UTILITIES
    from eyetest.errors import SpecError, UnknownNameError

    out, seen = [], set()
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        design, _, utility = item.partition(":")
        if design not in DESIGNS:
            raise UnknownNameError("design", design, DESIGNS)
        if utility and design != "active":
            raise SpecError("--designs", f"{item!r}: only 'active' takes a utility (active:<utility>)")
        if design == "active":
            utility = utility or active_utility
            if utility not in UTILITIES:
                raise UnknownNameError("active utility", utility, UTILITIES)
            key = (design, utility)
            label = "active" if item == "active" or utility == active_utility else f"active:{utility}"
            options = {"utility": utility}
        else:
            key, label, options = (design, None), design, None
        if key not in seen:
            seen.add(key)
            out.append((label, design, options))
    if not out:
        raise SpecError("--designs", "no design given")
    return out


#: studies with at most this many comparable pairs (6 conditions) get a note that first-passage counts
#: are unstable: the block-averaged tau moves in steps of about 2 / pairs
SMALL_STUDY_PAIRS = 15


def _check_options(*, tie_share, target_tau, target_ci, target_ci_mos, studies, budget, step, spread, random_share, concurrent,
                   trials_per_rater, images, seed, quit_share=0.0) -> None:
    """Refuse option values the simulation cannot use, naming the option."""
    import math

    from eyetest.errors import SpecError

    checks = [
        ("--ties", tie_share, 0.0 <= tie_share < 0.9, "a share in [0, 0.9)"),
        ("--target-tau", target_tau, 0.0 < target_tau <= 1.0, "in (0, 1]"),
        ("--target-ci", target_ci, target_ci > 0.0, "positive (JOD)"),
        ("--target-ci-mos", target_ci_mos,
         target_ci_mos is None or (math.isfinite(target_ci_mos) and target_ci_mos > 0.0), "positive (scale units)"),
        ("--spread", spread, math.isfinite(spread) and spread >= 0.0, "a finite SD >= 0"),
        ("--random-share", random_share, 0.0 <= random_share <= 1.0, "a share in [0, 1]"),
        ("--quit-share", quit_share, 0.0 <= quit_share < 1.0, "a share in [0, 1)"),
        ("--studies", studies, studies >= 1, "at least 1"),
        ("--concurrent", concurrent, concurrent >= 1, "at least 1"),
        ("--budget", budget, budget is None or budget >= 1, "at least 1"),
        ("--step", step, step is None or step >= 1, "at least 1"),
        ("--trials-per-rater", trials_per_rater, trials_per_rater is None or trials_per_rater >= 1, "at least 1"),
        ("--images", images, images is None or images >= 1, "at least 1"),
        ("--seed", seed, seed is None or seed >= 0, "a non-negative integer"),
    ]
    for flag, value, ok, what in checks:
        if not ok:
            raise SpecError(flag, f"must be {what}, got {value}")


def _spec_images(plan, spec_path) -> int:
    """Images of a study made from the spec: its list, else the dataset's images (as the importer counts)."""
    from pathlib import Path

    from eyetest.errors import DatasetError, SpecError
    from eyetest.io.dataset import discover
    from eyetest.study.importer import select_images

    if plan.images:
        return len(plan.images)
    root = Path(plan.dataset)
    if not root.is_absolute():                    # as `eyetest study create`: relative to the spec's folder
        root = Path(spec_path).resolve().parent / root
    try:
        return len(select_images(plan, discover(root), root, [])[0])
    except (DatasetError, SpecError, OSError) as exc:
        raise SpecError("--images", f"the spec lists no images and its dataset {plan.dataset!r} cannot be "
                                    f"read to count them ({exc}); give the number with --images N") from None


def _fmt(x: float) -> str:
    return "not reached" if x == float("inf") else f"{x:.0f}"


def _check_plot_path(path) -> None:
    """Refuse a --plot file matplotlib cannot write, or a place it cannot go, before simulating anything."""
    from pathlib import Path

    from matplotlib.figure import Figure

    from eyetest.io.outputs import check_writable

    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    known = Figure().canvas.get_supported_filetypes()
    if fmt not in known:
        raise click.BadParameter(f"{str(path)!r}: matplotlib cannot write .{fmt} files; use one of "
                                 f"{', '.join('.' + k for k in sorted(known))}", param_hint="--plot")
    check_writable(path, "plot (--plot)")


def _progress_enabled() -> bool:
    """Show a progress bar (on standard error) only when it goes to a terminal, as score and audit do."""
    import sys

    return sys.stderr.isatty()


def _plan_with_progress(entries, **kwargs):
    """``plan_designs`` one design at a time, with a progress bar over the designs.

    Designs are independent (study ``k`` draws its truth and raters from the
    seed ``(seed, k)`` whatever the design), so this gives exactly the
    results of one ``plan_designs`` call on all of them.
    """
    from eyetest.core.design.evaluate import plan_designs

    if not _progress_enabled():
        return plan_designs(entries, **kwargs)
    from tqdm import tqdm

    results = []
    with tqdm(total=len(entries), unit="design", desc="simulating", leave=False, dynamic_ncols=True) as bar:
        for entry in entries:
            bar.set_postfix_str(f"{entry[0]}: {kwargs['n_studies']} studies")
            results.extend(plan_designs([entry], **kwargs))
            bar.update(1)
    return results


def _save_plot(results, path, *, target_tau: float, target_ci: float, ci_unit: str = "JOD",
               x_label: str = "judgments") -> None:
    import warnings

    import numpy as np
    from matplotlib.figure import Figure

    from eyetest.cli.outputs import write_errors
    from eyetest.report.figures import save_figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_tau, ax_ci = fig.subplots(1, 2)
    for r in results:
        x = r.checkpoints
        for ax, values in ((ax_tau, r.tau), (ax_ci, r.ci_width)):
            with warnings.catch_warnings():        # rating CI widths are NaN until every condition has 2 ratings
                warnings.simplefilter("ignore", RuntimeWarning)
                ax.plot(x, np.nanmedian(values, axis=0), label=r.design)
                lo, hi = np.nanpercentile(values, [25, 75], axis=0)
            ax.fill_between(x, lo, hi, alpha=0.15)
    ax_tau.axhline(target_tau, color="grey", ls="--", lw=1)
    ax_tau.set(xlabel=x_label, ylabel="Kendall tau vs truth (median, IQR)", ylim=(0, 1))
    ax_ci.axhline(target_ci, color="grey", ls="--", lw=1)
    ax_ci.set(xlabel=x_label, ylabel=f"mean 95% CI width ({ci_unit})")
    ax_tau.legend()
    with write_errors(path):
        save_figure(fig, path, dpi=120)   # atomic; missing folders are created


def _ranked_pairs(image_names, methods, blocks) -> int:
    """Comparable (ranked) pairs as the scheduler forms them: within each block (``None``: across images too)."""
    import numpy as np

    from eyetest.core.design.base import block_labels
    from eyetest.core.judgments.model import condition_id

    block_size = np.bincount(block_labels([condition_id(i, m) for i in image_names for m in methods], blocks))
    return int((block_size * (block_size - 1) // 2).sum())


def _checkpoint_step(budget: int, step: int | None) -> int:
    """Judgments between checkpoints: ``step``, or 80 checkpoints over the budget; at most the budget."""
    from eyetest.errors import SpecError

    step = max(1, budget // 80) if step is None else step
    if step > budget:
        raise SpecError("--step", f"must be at most the budget ({budget}), got {step}")
    return step


def _plan_rating(*, methods, n_images, blocks, scale, seed, trials_per_rater, qc_share, notes, studies, budget,
                 step, spread, rater_model, target_tau, target_ci, plot_path, as_json) -> None:
    """The rating branch of ``eyetest plan``: one row, the balanced-block design (``plan_rating``)."""
    import json
    import math


    from eyetest.core.design.rating_plan import DEFAULT_TARGET_CI, plan_rating
    from eyetest.core.design.simulator import make_truth

    image_names = [f"img{k:03d}" for k in range(n_images)]
    n_cond = len(methods) * n_images
    target_ci = DEFAULT_TARGET_CI[scale] if target_ci is None else target_ci
    unit = "points" if scale == "continuous100" else "MOS"
    # as the server: the session's regular trials, at most one per condition
    regular = min(max(1, int(round(trials_per_rater * (1.0 - qc_share)))), n_cond)
    if qc_share:
        notes.append(f"{qc_share:.0%} of each session are quality-control trials: {regular} regular ratings per rater")
    elif regular < trials_per_rater:
        notes.append(f"a session rates each condition at most once: {regular} ratings per rater")
    n_pairs = _ranked_pairs(image_names, methods, blocks)
    if n_pairs <= SMALL_STUDY_PAIRS:
        notes.append(f"a small study ({n_pairs} ranked pairs): tau moves in steps of about 2/{n_pairs}; treat the "
                     "tau numbers as rough and check --plot")
    budget = 80 * n_cond if budget is None else budget
    step = _checkpoint_step(budget, step)

    def truth(rng):
        return make_truth(images=image_names, methods=methods, rng=rng, method_sd=spread)

    result = plan_rating(make_truth=truth, scale=scale, n_studies=studies, budget=budget, step=step, seed=seed,
                         per_rater=regular, target_tau=target_tau, target_ci=target_ci,
                         rater_model=rater_model, blocks=blocks)
    if plot_path:
        _save_plot([result], plot_path, target_tau=target_tau, target_ci=target_ci,
                   ci_unit=f"{scale}, {unit}", x_label="ratings")
    fin = lambda x: x if math.isfinite(x) else None  # noqa: E731
    r = result
    if as_json:
        click.echo(json.dumps({
            "protocol": "rating", "scale": scale, "conditions": n_cond, "images": n_images,
            "target_tau": target_tau, "target_ci": target_ci, "ci_unit": unit, "studies": studies,
            "budget": budget, "trials_per_rater": trials_per_rater, "regular_judgments_per_rater": regular,
            "notes": notes, "seed": seed,
            "designs": {r.design: {
                "judgments_for_tau": fin(r.judgments_for_tau), "raters_for_tau": fin(r.raters_for_tau),
                "judgments_for_tau_stays": fin(r.judgments_for_tau_stays),
                "raters_for_tau_stays": fin(r.raters_for_tau_stays),
                "judgments_for_ci": fin(r.judgments_for_ci), "raters_for_ci": fin(r.raters_for_ci)}},
        }, indent=2))
        return
    click.echo(f"{n_cond} conditions ({n_images} image(s) x {len(methods)} methods), rating scale {scale}, "
               f"{studies} simulated studies, {trials_per_rater} trials per rater")
    head = ("design", f"ratings tau>={target_tau:g}", "raters", "stays from", "raters",
            f"ratings CI<={target_ci:g} {unit}", "raters")
    row = (r.design, _fmt(r.judgments_for_tau), _fmt(r.raters_for_tau), _fmt(r.judgments_for_tau_stays),
           _fmt(r.raters_for_tau_stays), _fmt(r.judgments_for_ci), _fmt(r.raters_for_ci))
    widths = [max(len(str(a)), len(str(b))) for a, b in zip(head, row)]
    for line in (head, row):
        click.echo("  ".join(str(x).rjust(w) if k else str(x).ljust(w) for k, (x, w) in enumerate(zip(line, widths))))
    click.echo(f"(medians over studies; 'not reached' = beyond {budget} ratings; MOS ranking tau within each image; "
               f"CI = mean 95% Student-t interval width of the MOS, in {scale} {unit}"
               f"{' points' if unit == 'MOS' else ''}; raters = sessions of {regular} regular ratings)")
    for note in notes:
        click.echo(f"note: {note}")
    if plot_path:
        click.echo(f"plot saved to {plot_path}")


@click.command("plan")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False), default=None,
              help="Study spec (TOML); its methods, images, ties, seed and session length are used.")
@click.option("--conditions", type=int, default=None, help="Conditions to compare (without a spec; default 20).")
@click.option("--images", type=int, default=None,
              help="Images, each compared within itself (default: the spec's images, else the images of its "
                   "dataset; without a spec 1).")
@click.option("--ties", "tie_share", type=float, default=0.2, show_default=True,
              help="Share of tie answers to simulate (0: no ties).")
@click.option("--designs", default=",".join(DEFAULT_DESIGNS), show_default=True,
              help="Comma-separated designs; active:<utility> (misorder, ranking, eig) picks what the "
                   "active sampler maximises, plain 'active' is the spec's choice (default misorder).")
@click.option("--target-tau", type=float, default=0.9, show_default=True, help="Target Kendall tau vs the truth.")
@click.option("--target-ci", type=float, default=1.0, show_default=True,
              help="Target mean 95% CI width of the scores, in JOD.")
@click.option("--studies", type=int, default=10, show_default=True, help="Simulated studies per design.")
@click.option("--budget", type=int, default=None, help="Judgments simulated per study (default 8 x pairs).")
@click.option("--step", type=int, default=None, help="Judgments between checkpoints (default budget / 80).")
@click.option("--spread", type=float, default=1.0, show_default=True,
              help="SD of the true method qualities (1 = SD of one perceived difference = 1.48 JOD).")
@click.option("--random-share", type=float, default=0.0, show_default=True, help="Share of random clickers.")
@click.option("--quit-share", type=float, default=0.0, show_default=True,
              help="Share of raters who leave their session early (at a random trial); the server gives their "
                   "unanswered trials to later raters, so they cost raters, not judgments.")
@click.option("--concurrent", type=int, default=10, show_default=True, help="Raters working at the same time.")
@click.option("--trials-per-rater", type=int, default=None, help="Judgments per rater session (default 60).")
@click.option("--seed", type=int, default=None, help="Seed (default: the spec's, else 0).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Save accuracy and CI width vs judgments to this image file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--protocol", type=click.Choice(["pairwise", "rating"]), default=None,
              help="Without a spec: plan a pairwise (default) or a rating study (the spec's study.protocol otherwise).")
@click.option("--scale", type=click.Choice(["acr5", "dcr5", "continuous100"]), default=None,
              help="Rating scale with --protocol rating (default acr5; the spec's study.scale otherwise).")
@click.option("--target-ci-mos", type=float, default=None,
              help="Rating: target mean 95% CI width of the MOS in scale units (default 0.5 MOS points for "
                   "acr5/dcr5, 10 points for continuous100).")
def command(spec_path, conditions, images, tie_share, designs, target_tau, target_ci, studies, budget, step,
            spread, random_share, quit_share, concurrent, trials_per_rater, seed, plot_path, as_json, protocol, scale,
            target_ci_mos) -> None:
    """Judgments and raters each design needs, by simulation (e.g. --conditions 20 --ties 0.2)."""
    import json
    import math


    from eyetest.core.design.active import DEFAULT_UTILITY
    from eyetest.core.design.simulator import RaterModel, make_truth
    from eyetest.errors import SpecError

    active_utility = DEFAULT_UTILITY
    _check_options(tie_share=tie_share, target_tau=target_tau, target_ci=target_ci, target_ci_mos=target_ci_mos,
                   studies=studies,
                   budget=budget, step=step, spread=spread, random_share=random_share, concurrent=concurrent,
                   trials_per_rater=trials_per_rater, images=images, seed=seed, quit_share=quit_share)
    raters_model = RaterModel(random_share=random_share, quit_share=quit_share)
    quit_notes = [f"{quit_share:.0%} of raters leave their session early (at a random trial): the raters count "
                  "them; their unanswered trials go to later raters once the session expires"] if quit_share else []
    if plot_path:
        _check_plot_path(plot_path)
    if spec_path is not None:
        from eyetest.study.spec import load_spec

        for flag, value in (("--protocol", protocol), ("--scale", scale)):
            if value is not None:
                raise SpecError(flag, "give either --spec (its study.protocol and study.scale) or " + flag)
        plan = load_spec(spec_path)
        protocol, scale = plan.protocol, plan.scale
        active_utility = plan.active_utility or active_utility
        if conditions is not None:
            raise SpecError("--conditions", "give either --spec or --conditions, not both")
        methods = list(plan.methods)
        n_images = images if images is not None else _spec_images(plan, spec_path)
        blocks = None if plan.blocks == "none" else "image"
        tie_share = tie_share if plan.protocol == "pairwise" and plan.ties else 0.0
        seed = plan.seed if seed is None else seed
        trials_per_rater = plan.judgments_per_session if trials_per_rater is None else trials_per_rater
        q = plan.quality
        qc_share = q.gold_fraction + q.repeat_fraction + q.attention_fraction
        notes = list(quit_notes)
        if plan.blocks == "scenario":
            notes.append("scenario blocks are simulated as image blocks")
    else:
        n = 20 if conditions is None else conditions
        if n < 2:
            raise SpecError("--conditions", f"need at least 2, got {n}")
        methods = [f"m{k:02d}" for k in range(n)]
        n_images = 1 if images is None else images
        blocks = "image" if n_images > 1 else None
        seed = 0 if seed is None else seed
        trials_per_rater = 60 if trials_per_rater is None else trials_per_rater
        qc_share = 0.0
        notes = list(quit_notes)
        protocol = protocol or "pairwise"
        if protocol == "rating":
            scale = scale or "acr5"
        elif scale is not None:
            raise SpecError("--scale", "applies to --protocol rating only")
    if protocol == "rating":
        # pairwise-only options given on the command line would be ignored silently: refuse them
        ctx = click.get_current_context()
        given = [flag for name, flag in (("designs", "--designs"), ("tie_share", "--ties"),
                                         ("concurrent", "--concurrent"), ("target_ci", "--target-ci"))
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
        if given:
            raise SpecError(given[0], "applies to pairwise plans only (a rating plan: --target-tau, "
                                      "--target-ci-mos, --trials-per-rater)")
        _plan_rating(methods=methods, n_images=n_images, blocks=blocks, scale=scale, seed=seed,
                     trials_per_rater=trials_per_rater, qc_share=qc_share, notes=notes, studies=studies,
                     budget=budget, step=step, spread=spread, rater_model=raters_model, target_tau=target_tau,
                     target_ci=target_ci_mos, plot_path=plot_path, as_json=as_json)
        return
    if target_ci_mos is not None:
        raise SpecError("--target-ci-mos", "applies to rating studies only (pairwise: --target-ci, in JOD)")
    entries = parse_designs(designs, active_utility)
    if any(label == "active" for label, _, _ in entries):
        notes.append(f"active = the active sampler with utility {active_utility!r}"
                     + (" (the spec's)" if spec_path is not None else ""))
    # quality-control trials take part of every session: regular judgments per rater
    regular_per_rater = max(1, int(round(trials_per_rater * (1.0 - qc_share))))
    if qc_share:
        notes.append(f"{qc_share:.0%} of each session are quality-control trials: "
                     f"{regular_per_rater} regular judgments per rater")
    image_names = [f"img{k:03d}" for k in range(n_images)]
    n_pairs = _ranked_pairs(image_names, methods, blocks)
    if n_pairs <= SMALL_STUDY_PAIRS:
        notes.append(f"a small study ({n_pairs} comparable pairs): tau moves in steps of about 2/{n_pairs}, so the "
                     "judgments at which it first reaches the target vary a lot between studies and it may fall "
                     "back below it later; treat the numbers as rough and check --plot")
    budget = 8 * n_pairs if budget is None else budget
    step = _checkpoint_step(budget, step)

    def truth(rng):
        return make_truth(images=image_names, methods=methods, rng=rng, method_sd=spread)

    results = _plan_with_progress(entries, make_truth=truth, n_studies=studies, tie_share=tie_share,
                                  budget=budget, step=step, seed=seed, target_tau=target_tau,
                                  target_ci=target_ci, rater_model=raters_model,
                                  blocks=blocks, concurrent=concurrent, trials_per_rater=regular_per_rater)
    if plot_path:
        _save_plot(results, plot_path, target_tau=target_tau, target_ci=target_ci)
    fin = lambda x: x if math.isfinite(x) else None  # noqa: E731
    if as_json:
        click.echo(json.dumps({
            "conditions": len(methods) * n_images, "images": n_images, "pairs": n_pairs,
            "tie_share_target": tie_share, "target_tau": target_tau, "target_ci_jod": target_ci,
            "studies": studies, "budget": budget, "trials_per_rater": trials_per_rater,
            "regular_judgments_per_rater": regular_per_rater, "notes": notes, "seed": seed,
            "designs": {r.design: {
                "judgments_for_tau": fin(r.judgments_for_tau), "raters_for_tau": fin(r.raters_for_tau),
                "judgments_for_tau_stays": fin(r.judgments_for_tau_stays),
                "raters_for_tau_stays": fin(r.raters_for_tau_stays),
                "judgments_for_ci": fin(r.judgments_for_ci), "raters_for_ci": fin(r.raters_for_ci),
                "tie_share": round(r.tie_share, 4)} for r in results},
        }, indent=2))
        return
    click.echo(f"{len(methods) * n_images} conditions ({n_images} image(s) x {len(methods)} methods), "
               f"{n_pairs} comparable pairs, ~{tie_share:.0%} ties, {studies} simulated studies per design, "
               f"{trials_per_rater} judgments per rater")
    head = ("design", f"judgments tau>={target_tau:g}", "raters", "stays from", "raters",
            f"judgments CI<={target_ci:g} JOD", "raters", "ties")
    rows = [(r.design, _fmt(r.judgments_for_tau), _fmt(r.raters_for_tau), _fmt(r.judgments_for_tau_stays),
             _fmt(r.raters_for_tau_stays), _fmt(r.judgments_for_ci), _fmt(r.raters_for_ci),
             f"{r.tie_share:.0%}") for r in results]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    for row in (head, *rows):
        click.echo("  ".join(str(x).rjust(w) if k else str(x).ljust(w) for k, (x, w) in enumerate(zip(row, widths))))
    click.echo(f"(medians over studies; 'not reached' = beyond {budget} judgments; 'stays from' = the judgments "
               f"from which the median study's tau stays >= {target_tau:g} to the end of the budget, the safer "
               f"figure to budget with; raters = sessions of {trials_per_rater} trials, {regular_per_rater} of them regular "
               "judgments)")
    for note in notes:
        click.echo(f"note: {note}")
    if plot_path:
        click.echo(f"plot saved to {plot_path}")
