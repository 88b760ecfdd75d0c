"""Input and output: images, datasets, result tables, parameter files, foreign formats."""
