"""Prefect flows: thin wiring of vats_etl's stages (installed as vats_etl.flows)."""
