"""The colony's DuckDB store: schema, migrations, the single writer, named queries."""
