"""Optional adapters: weights manager, pyiqa, imported scores."""
