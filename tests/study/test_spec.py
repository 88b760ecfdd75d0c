"""Study spec parsing: defaults, validation errors that name the key and the allowed values."""

from __future__ import annotations

import pytest

from eyetest.errors import SpecError
from eyetest.study.spec import DIMENSIONS, SCENARIOS, SCHEMA_VERSION, load_spec, parse_spec

MINIMAL = """
[study]
name = "sr-x4"
[stimuli]
dataset = "data/sr-x4"
methods = ["hat", "supir", "bicubic"]
"""

FULL = """
schema_version = 1
[study]
name = "sr-x4-generative"
protocol = "pairwise"
design = "swiss"
ties = false
both_bad = true
seed = 7
judgments_per_session = 80
blocks = "scenario"
[stimuli]
dataset = "data/sr-x4"
methods = ["hat", "supir"]
images = ["0801", "0802"]
context = "lq"
[[dimensions]]
name = "naturalness"
[[dimensions]]
name = "hallucination"
prompt = "Which image invents fewer things?"
[scenarios]
taxonomy = ["text", "food"]
[quality]
gold_fraction = 0.08
repeat_fraction = 0.05
min_ms_per_trial = 1200
[crowd]
platform = "prolific"
completion_code = "C1A2B3"
"""


def test_defaults_follow_domain():
    plan = parse_spec(MINIMAL)
    assert plan.schema_version == SCHEMA_VERSION == 1
    assert plan.protocol == "pairwise" and plan.design == "active" and plan.ties
    assert [d.name for d in plan.dimensions] == ["overall"]
    assert plan.scenarios == SCENARIOS and len(SCENARIOS) == 18 and "hand-drawn" in SCENARIOS
    assert plan.context == "none" and plan.blocks == "image"
    assert plan.to_dict()["schema_version"] == 1


def test_full_spec(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(FULL)
    plan = load_spec(path)
    assert plan.design == "swiss" and not plan.ties and plan.both_bad and plan.seed == 7
    assert [(d.name, d.prompt) for d in plan.dimensions] == [
        ("naturalness", DIMENSIONS["naturalness"]), ("hallucination", "Which image invents fewer things?")]
    assert plan.quality.gold_fraction == 0.08 and plan.quality.min_ms_per_trial == 1200
    assert plan.crowd.platform == "prolific" and plan.scenarios == ("text", "food")
    assert plan.conditions() == ["0801::hat", "0801::supir", "0802::hat", "0802::supir"]


def test_active_utility_applies_to_the_active_design_only():
    assert parse_spec(MINIMAL).active_utility == "misorder"          # the sampler's default
    plan = parse_spec(MINIMAL.replace('name = "sr-x4"', 'name = "sr-x4"\nactive_utility = "eig"'))
    assert plan.active_utility == "eig" and plan.to_dict()["active_utility"] == "eig"
    assert parse_spec(FULL).active_utility is None                    # design "swiss"
    with pytest.raises(SpecError) as err:
        parse_spec(FULL.replace('design = "swiss"', 'design = "swiss"\nactive_utility = "eig"'))
    assert err.value.key == "study.active_utility" and "design 'active' only" in str(err.value)
    with pytest.raises(SpecError) as err:
        parse_spec(MINIMAL.replace('name = "sr-x4"', 'name = "sr-x4"\nactive_utility = "kl"'))
    assert err.value.key == "study.active_utility" and "misorder, ranking, eig" in str(err.value)


def test_rating_protocol():
    dcr = MINIMAL.replace('name = "sr-x4"', 'name = "mos"\nprotocol = "rating"\nscale = "dcr5"')
    plan = parse_spec(dcr + 'context = "gt"\n')
    assert plan.design == "balanced" and plan.scale == "dcr5" and plan.context == "gt"


@pytest.mark.parametrize("context", [None, "none", "lq"])
def test_dcr_needs_the_reference_shown(context):
    """DCR (ITU-T P.910) rates the impairment of an image against its reference: without it, it is not DCR."""
    text = MINIMAL.replace('name = "sr-x4"', 'name = "mos"\nprotocol = "rating"\nscale = "dcr5"')
    with pytest.raises(SpecError) as err:
        parse_spec(text + (f'context = "{context}"\n' if context else ""))
    assert err.value.key == "stimuli.context" and "context = \"gt\"" in str(err.value)
    assert f"{context or 'none'!r} is not allowed with scale 'dcr5'" in str(err.value)


@pytest.mark.parametrize("scale, context, first", [
    ("acr5", "none", "How would you rate the overall quality of this image?"),
    ("continuous100", "lq", "How would you rate the overall quality of this image?"),
    ("dcr5", "gt", "Compared with the reference, how annoying are the impairments of this image?"),
])
def test_rating_studies_ask_about_one_image_not_a_preference(scale, context, first):
    """A rating trial shows one image: the default questions must not be the pairwise 'Which image ...?'."""
    text = MINIMAL.replace('name = "sr-x4"', f'name = "mos"\nprotocol = "rating"\nscale = "{scale}"')
    plan = parse_spec(text + f'context = "{context}"\n')
    assert [d.prompt for d in plan.dimensions] == [first]
    named = parse_spec(text + f'context = "{context}"\n' + "".join(
        f'[[dimensions]]\nname = "{d}"\n' for d in DIMENSIONS) + '[[dimensions]]\nname = "own"\nprompt = "Mine?"\n')
    prompts = [d.prompt for d in named.dimensions]
    assert prompts[-1] == "Mine?" and len(set(prompts)) == len(prompts)
    assert not any(p.startswith("Which") for p in prompts)
    assert all(("reference" in p) == (scale == "dcr5") for p in prompts[:-1])
    pairwise = parse_spec(MINIMAL)
    assert pairwise.dimensions[0].prompt == DIMENSIONS["overall"]


@pytest.mark.parametrize("edit,key,allowed", [
    (('design = "swiss"', 'design = "elo"'), "study.design", "full, random, swiss, active"),
    (('protocol = "pairwise"', 'protocol = "triplet"'), "study.protocol", "pairwise, rating"),
    (('context = "lq"', 'context = "side"'), "stimuli.context", "none, lq, gt"),
    (('blocks = "scenario"', 'blocks = "method"'), "study.blocks", "none, image, scenario"),
    (('platform = "prolific"', 'platform = "toloka"'), "crowd.platform", "prolific, mturk, link"),
    (('schema_version = 1', 'schema_version = 2'), "schema_version", "1"),
    (('ties = false', 'ties = "yes"'), "study.ties", "true or false"),
    (('seed = 7', 'seed = 1.5'), "study.seed", "integer"),
    (('gold_fraction = 0.08', 'gold_fraction = 0.8'), "quality.gold_fraction", "between 0 and 0.5"),
    (('name = "naturalness"', 'name = "naturalnes"'), "dimensions[0].prompt", "known dimensions"),
    (('name = "hallucination"', 'name = "naturalness"'), "dimensions[1].name", "twice"),
    (('methods = ["hat", "supir"]', 'methods = ["hat"]'), "stimuli.methods", "at least 2"),
    (('completion_code = "C1A2B3"', ''), "crowd.completion_code", "prolific"),
    (('min_ms_per_trial = 1200', 'min_ms_per_trail = 1200'), "quality.min_ms_per_trail", "allowed: gold_fraction"),
    (('[scenarios]', '[scenario]'), "scenario", "allowed: schema_version, study"),
    (('seed = 7', 'seed = 7\nscale = "acr5"'), "study.scale", "rating"),
])
def test_errors_name_key_and_allowed(edit, key, allowed):
    old, new = edit
    assert old in FULL
    with pytest.raises(SpecError) as err:
        parse_spec(FULL.replace(old, new))
    assert err.value.key == key
    assert allowed in str(err.value)


def test_missing_required_and_bad_files(tmp_path):
    with pytest.raises(SpecError, match="study.name"):
        parse_spec(MINIMAL.replace('name = "sr-x4"', ""))
    with pytest.raises(SpecError, match="stimuli.dataset"):
        parse_spec(MINIMAL.replace('dataset = "data/sr-x4"', ""))
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\nname=")
    with pytest.raises(SpecError, match="not valid TOML") as err:
        load_spec(bad)
    assert err.value.key == str(bad)
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.toml")


def test_dimension_names_fit_the_rater_api():
    """The API takes at most 32 answers with keys of at most 64 characters: the spec says so up front."""
    long = "x" * 65
    with pytest.raises(SpecError) as err:
        parse_spec(FULL.replace('name = "hallucination"', f'name = "{long}"'))
    assert err.value.key == "dimensions[1].name" and "65 characters" in str(err.value)
    assert parse_spec(FULL.replace('name = "hallucination"', f'name = "{"x" * 64}"')).dimensions[1].name == "x" * 64
    with pytest.raises(SpecError) as err:
        parse_spec(FULL.replace('name = "hallucination"', 'name = "hallu cination"'))
    assert err.value.key == "dimensions[1].name" and "only letters" in str(err.value)
    many = "".join(f'[[dimensions]]\nname = "d{k}"\nprompt = "Which?"\n' for k in range(33))
    with pytest.raises(SpecError) as err:
        parse_spec(MINIMAL + many)
    assert err.value.key == "dimensions" and "at most 32" in str(err.value) and "33" in str(err.value)
    assert len(parse_spec(MINIMAL + many.rsplit("[[dimensions]]", 1)[0]).dimensions) == 32


@pytest.mark.parametrize("key", ["gold_fraction", "attention_fraction"])
def test_rating_studies_take_gold_and_attention_trials(key):
    """Rating studies have gold and attention trials too (they were refused as 'pairwise only')."""
    rating = MINIMAL.replace('name = "sr-x4"', 'name = "mos"\nprotocol = "rating"')
    plan = parse_spec(rating + f"[quality]\n{key} = 0.1\nrepeat_fraction = 0.1\n")
    assert getattr(plan.quality, key) == 0.1 and plan.quality.repeat_fraction == 0.1
    with pytest.raises(SpecError) as err:                   # the shared limits still hold
        parse_spec(rating + f"[quality]\n{key} = 0.3\nrepeat_fraction = 0.3\n")
    assert err.value.key == "quality" and "<= 0.5" in str(err.value)


def test_completion_code_is_url_safe():
    with pytest.raises(SpecError) as err:
        parse_spec(FULL.replace('completion_code = "C1A2B3"', 'completion_code = "AB 12&x=1#y"'))
    assert err.value.key == "crowd.completion_code" and "AB 12&x=1#y" in str(err.value)
    assert parse_spec(FULL.replace('"C1A2B3"', '"DONE-12_a"')).crowd.completion_code == "DONE-12_a"
