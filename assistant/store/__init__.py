"""The store: tortoise-orm models, migrations and queries. SQLite by default, PostgreSQL by URL."""
