"""The study server (FastAPI app factory, routes, templates, static files)."""
