"""Database schema, migrations and engines (SQLite default, PostgreSQL)."""
