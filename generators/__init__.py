"""Generation: samplers, portfolios and backends (transformers here; vLLM on GPU).

Imports neither Prefect nor DuckDB, so it runs on a GPU machine with only torch and transformers.
"""

from .base import GREEDY, Completion, Request, Sampler, sample_seed
from .portfolio import PortfolioEntry, generate_rows, split_budget

__all__ = ["GREEDY", "Completion", "PortfolioEntry", "Request", "Sampler", "generate_rows", "sample_seed", "split_budget"]
