"""The examples in README.md and docs/*.md: commands name real sub-commands and options, Python runs.

* Every ``eyetest ...`` command in a code block or inline code span is
  resolved against the click command tree: its sub-commands must exist and
  every ``--option`` must be one of that command's options.  Synopsis
  brackets (``[--out FILE]``) and alternatives (``pause|resume``) are read as
  such.  A renamed or removed option then fails here instead of in a reader's
  terminal.
* Every ``python`` block compiles; those that need no network weights or
  optional packages are run, with the names they take as given (images,
  a score table, a human scale) defined by a prelude below.
* The README starts with exactly the two set-up commands.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest

from eyetest.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"(?<!`)`([^`\n]*(?:\n[^`\n]+)?)`(?!`)")


def _blocks(path: Path):
    text = path.read_text(encoding="utf-8")
    for m in FENCE.finditer(text):
        yield m.group(1), m.group(2), text[: m.start()].count("\n") + 1


def _command_lines():
    """(where, command text) for every ``eyetest`` invocation shown in the documentation."""
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(REPO).as_posix()
        for lang, body, line in _blocks(path):
            if lang not in ("", "bash", "sh", "shell", "console"):
                continue
            joined = re.sub(r"\\\n\s*", " ", body)
            for k, raw in enumerate(joined.splitlines()):
                raw = re.sub(r"^\$\s+", "", raw.strip())
                for part in re.split(r"&&|;|\|\|", re.sub(r"(^|\s)#.*$", "", raw)):
                    m = re.search(r"(?:^|\s)eyetest\s+(.*)$", part)
                    if m:
                        yield f"{rel}:{line + k}", m.group(1)
        prose = FENCE.sub("", text)
        for m in INLINE.finditer(prose):
            span = " ".join(m.group(1).split())
            if span.startswith("eyetest "):      # (a table cell escapes "|" as "\\|")
                yield f"{rel} (inline)", span[len("eyetest "):].replace("\\|", "|")


def _tokens(text: str) -> list[str]:
    text = text.replace("[", " ").replace("]", " ").replace("...", " ")
    try:
        return shlex.split(text)
    except ValueError:          # an unbalanced quote in prose: split on blanks
        return text.split()


def _resolve(tokens):
    """The click command the tokens name and the tokens after its name; raises on an unknown sub-command."""
    command, path = cli, ["eyetest"]
    rest = list(tokens)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        word = rest.pop(0)
        choices = word.split("|")
        for choice in choices:
            if command.get_command(None, choice) is None:
                raise LookupError(f"{' '.join(path)} has no sub-command {choice!r} "
                                  f"(it has {', '.join(command.list_commands(None))})")
        command = command.get_command(None, choices[0])
        path.append(choices[0])
    return command, path, rest


def _options(command) -> set[str]:
    opts = {"--help", "-h"}
    for param in command.params:
        opts.update(param.opts)
        opts.update(param.secondary_opts)
    return opts


COMMANDS = list(_command_lines())


def test_documentation_shows_commands():
    assert len(COMMANDS) > 60
    assert {w.split(":")[0].split(" ")[0] for w, _ in COMMANDS} >= {"README.md", "docs/scoring.md",
                                                                    "docs/serving.md"}


@pytest.mark.parametrize("where,text", COMMANDS, ids=[f"{w} {t[:40]}" for w, t in COMMANDS])
def test_documented_command_exists(where, text):
    try:
        command, path, rest = _resolve(_tokens(text))
    except LookupError as exc:
        pytest.fail(f"{where}: eyetest {text}: {exc}")
    known = _options(command)
    for token in rest:
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            assert name in known, (f"{where}: `eyetest {text}`: {' '.join(path)} has no option {name}; "
                                   f"it has {', '.join(sorted(known))}")


def test_resolver_catches_a_wrong_option_or_command():
    command, path, rest = _resolve(_tokens("study pause|resume ID --db URL"))
    assert path == ["eyetest", "study", "pause"] and "--db" in _options(command)
    with pytest.raises(LookupError, match="no sub-command 'fecth'"):
        _resolve(_tokens("weights fecth alexnet"))
    command, _, rest = _resolve(_tokens("score DATASET [--metric psnr]"))
    assert "--metric" in rest and "--metric" not in _options(command)


def test_readme_starts_with_the_two_setup_commands():
    lang, body, _ = next(_blocks(REPO / "README.md"))
    assert lang == "bash"
    assert body.splitlines() == ["pip install -e . && eyetest demo",
                                 "pip install torch==2.13.0 && pip install -e '.[test]' && python -m pytest"]


# -- Python blocks --------------------------------------------------------------------------------------

PYTHON = [(path.relative_to(REPO).as_posix(), line, body)
          for path in DOCS for lang, body, line in _blocks(path) if lang == "python"]


@pytest.mark.parametrize("where,line,body", PYTHON, ids=[f"{w}:{n}" for w, n, _ in PYTHON])
def test_python_block_compiles(where, line, body):
    compile(body, f"{where}:{line}", "exec")


def _images(ns):
    from skimage import data

    reference = data.astronaut()[:192, :192]
    rng = np.random.default_rng(0)
    distorted = np.clip(reference + rng.normal(0, 8, reference.shape), 0, 255).astype(np.uint8)
    ns.update(reference=reference, distorted=distorted, rgb_uint8=distorted,
              gray_uint16=data.camera()[:192, :192].astype(np.uint16) * 257)


def _tables(ns, folder: Path):
    """``eyetest-demo/results.csv`` and ``scale.csv`` as eyetest score and eyetest rank write them."""
    rng = np.random.default_rng(1)
    images, methods = [f"img{i}" for i in range(6)], ["bicubic", "ibp", "gan"]
    quality = {(i, m): rng.normal() for i in images for m in methods}
    rows = [(i, m, metric, sign * q + rng.normal(0, noise), "", "")
            for (i, m), q in quality.items()
            for metric, sign, noise in (("psnr", 1, 0.5), ("ssim", 0.05, 0.02), ("niqe", -1, 1.0))]
    (folder / "eyetest-demo").mkdir()
    pd.DataFrame(rows, columns=["image", "method", "metric", "value", "scenario", "family"]).to_csv(
        folder / "eyetest-demo" / "results.csv", index=False)
    pd.DataFrame({"condition": [f"{i}::{m}" for i, m in quality], "score": list(quality.values())}).to_csv(
        folder / "scale.csv", index=False)


def _conditions(ns):
    ns["conditions"] = [f"{i}::{m}" for i in ("0801", "0802") for m in ("hat", "supir", "bicubic")]
    ns["a"], ns["b"] = "0801::hat", "0801::bicubic"


#: (document, index of its python block) -> what the block needs before it runs; None: compiled only
RUN = {
    ("docs/metrics-fidelity.md", 0): _images,
    ("docs/metrics-no-reference.md", 0): _images,
    ("docs/alignment.md", 0): "tables",
    ("docs/alignment.md", 1): "tables",     # runs after block 0, in the same namespace
    ("docs/study-design.md", 0): _conditions,
    # learned-metrics.md: LPIPS / FID need network weights in the cache, pyiqa an optional package
}


def test_every_python_block_is_run_or_named():
    """New blocks are noticed: each is run here or listed as needing weights / optional packages."""
    per_doc: dict[str, int] = {}
    for where, _, _ in PYTHON:
        per_doc[where] = per_doc.get(where, 0) + 1
    run = {(w, k) for w, n in per_doc.items() for k in range(n) if (w, k) in RUN}
    compiled_only = {(w, k) for w, n in per_doc.items() for k in range(n)} - run
    assert {w for w, _ in compiled_only} <= {"docs/learned-metrics.md"}, sorted(compiled_only)


@pytest.mark.parametrize("where", sorted({w for w, _ in RUN}))
def test_python_blocks_run(where, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "__doc_example__"}
    blocks = [body for w, _, body in PYTHON if w == where]
    for k, body in enumerate(blocks):
        prepare = RUN.get((where, k))
        if prepare is None:
            continue
        if prepare == "tables":
            if k == 0:
                _tables(ns, tmp_path)
        else:
            prepare(ns)
        body = body.replace(", ...]", "]")        # "and so on" in a list of examples
        exec(compile(body, f"{where} block {k}", "exec"), ns)
    if where == "docs/alignment.md":
        scale = ns["scale"]
        assert {"image", "method"} <= set(scale.columns)
