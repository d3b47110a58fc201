"""Prefect flows over the stages, and the loop's config. Only flows (and the CLI) know Prefect."""
