"""Metric-versus-human statistics, family trends and adoption analysis."""
