"""SQL shipped as package data: schema migrations, models, views and audits."""
