"""Executors for metric jobs (local process pool; Ray optional) and the score cache."""
