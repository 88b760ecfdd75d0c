"""Figures, HTML / Markdown / LaTeX reports and the evaluation card."""
