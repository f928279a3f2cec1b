"""Thin routers, one per resource: parse, check, return prepared bytes or a schema."""
