"""Where a round's tasks run: this process (`local`) or a Ray cluster (`ray`, issue 11).

The data is the same either way: the shards, seeds and sampler picks are fixed by the plan, so
the runner decides only which process computes each shard.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ExecutionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Samples per shard (a part of the round's problems, cut at problem boundaries): one generation
    # task and one verify task each, and the most rows a CPU stage holds at once. 4096 rows of
    # addition completions are ~2 MB of Parquet and ~20 MB in memory.
    shard_size: int = Field(4096, ge=1)
