"""Postgres: the three ways to reach it (pg8000, SQLAlchemy Core, the ORM), the models, the migrations."""
