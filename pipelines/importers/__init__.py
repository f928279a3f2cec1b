"""Importers of public datasets into the raw contract (one module per dataset)."""
