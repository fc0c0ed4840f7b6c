"""Prefect flows and deployments of GameDay (thin: the work is in the gameday package)."""
