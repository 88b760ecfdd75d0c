"""Judgment data model, scaling models, uncertainty, rater quality and agreement statistics."""
