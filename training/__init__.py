"""Training: the built-in model, supervised fine-tuning, held-out evaluation and the gate.

Imports neither Prefect nor DuckDB, so it runs on a GPU machine with only torch and transformers.
"""
