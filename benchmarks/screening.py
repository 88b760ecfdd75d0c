"""Rater screening on simulated studies: honest raters excluded, random clickers caught.

Prints one JSON object per design (the numbers recorded in docs/judgments.md,
"Measured false positives").  Every study has ``raters`` honest Bradley-Terry
raters (scores evenly spread over 3 logits, sides randomised) who judge
every pair of ``conditions`` ``repeats`` times, plus ``clickers`` raters who
answer at random; ``screen_raters`` runs with its default rules.

Usage: python benchmarks/screening.py [--studies 200] [--seed 2024]
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pandas as pd

DESIGNS = [(5, 4, 1, 0), (8, 5, 1, 0), (12, 6, 1, 0), (20, 6, 2, 0), (12, 6, 1, 2), (12, 8, 1, 2), (20, 6, 2, 2)]


def simulate(rng, names, conditions, repeats, clickers):
    s = np.linspace(1.5, -1.5, conditions)
    rows = []
    for name in names:
        for _ in range(repeats):
            for i in range(conditions):
                for j in range(i + 1, conditions):
                    a, b = (i, j) if rng.random() < 0.5 else (j, i)
                    p = 0.5 if name in clickers else 1 / (1 + np.exp(-(s[a] - s[b])))
                    rows.append((name, f"c{a}", f"c{b}", "a" if rng.random() < p else "b"))
    return pd.DataFrame(rows, columns=["rater", "condition_a", "condition_b", "outcome"])


def main():
    from eyetest.core.judgments.screening import screen_raters

    parser = argparse.ArgumentParser()
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    warnings.simplefilter("ignore")
    for raters, conditions, repeats, n_clickers in DESIGNS:
        clickers = {f"x{k}" for k in range(n_clickers)}
        names = [f"h{k:02d}" for k in range(raters)] + sorted(clickers)
        honest = caught = 0
        by_rule: dict[str, int] = {}
        for _ in range(args.studies):
            table = screen_raters(judgments=simulate(rng, names, conditions, repeats, clickers)).table
            out = table[table["excluded"]]
            caught += int(out["rater"].isin(clickers).sum())
            wrong = out[~out["rater"].isin(clickers)]
            honest += len(wrong)
            for reasons in wrong["reasons"]:
                for reason in reasons.split("; "):
                    rule = ("leave-one-out" if reason.startswith("leave-one-out") else
                            "triads" if "triads" in reason else reason.split(" ")[0])
                    by_rule[rule] = by_rule.get(rule, 0) + 1
        print(json.dumps({
            "raters": raters, "conditions": conditions, "repeats": repeats, "clickers": n_clickers,
            "studies": args.studies, "honest_excluded_per_study": honest / args.studies,
            "honest_excluded_per_study_by_rule": {k: v / args.studies for k, v in sorted(by_rule.items())},
            "clickers_caught": caught / (n_clickers * args.studies) if n_clickers else None,
        }), flush=True)


if __name__ == "__main__":
    main()
