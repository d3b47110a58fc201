"""The Arrow schema of a dataset row: one generated sample with its whole story."""

import pyarrow as pa

ROW_SCHEMA = pa.schema(
    [
        ("row_id", pa.string()),  # unique across versions: r<round>-<problem id>-<sample index>
        ("round", pa.int32()),
        ("problem_id", pa.string()),
        ("domain", pa.string()),
        ("difficulty", pa.int32()),
        ("prompt", pa.string()),
        ("prompt_format", pa.string()),  # raw, or chat: the prompt went through the model's chat template
        ("reference", pa.string()),  # the reference final answer
        ("completion", pa.string()),
        ("extracted", pa.string()),  # the final answer read from the completion
        ("correct", pa.bool_()),
        ("steps_ok", pa.bool_()),
        ("first_bad_step", pa.int32()),
        ("error_kind", pa.string()),
        ("sampler", pa.string()),
        ("sampler_settings", pa.string()),  # JSON of the sampler's decoding settings
        ("seed", pa.int64()),
        ("model_id", pa.string()),
        ("n_tokens", pa.int32()),
        ("mean_logprob", pa.float32()),
        ("finish_reason", pa.string()),
        ("cluster_id", pa.string()),  # near-dup cluster (the row_id of its first member)
        ("dup_of", pa.string()),  # the row this one duplicates, when dropped as a near-duplicate
        ("kept", pa.bool_()),
        ("drop_reason", pa.string()),
        ("minhash", pa.list_(pa.uint32())),  # signature of kept rows, for dedup in later rounds
        ("config_hash", pa.string()),
        ("rationalized", pa.bool_()),  # sampled with the answer as a hint (generators/rationalize.py)
        # What the row's problem matched among the texts kept out of training (filters/decontam.py):
        # 'gsm8k.jsonl#12 (ngram)', 'heldout#add-1-3 (exact)'; null when nothing (or not checked).
        ("contamination", pa.string()),
    ]
)
COLUMNS = ROW_SCHEMA.names
# What a row without the column holds (rows and versions from before the column existed); else null.
DEFAULTS = {"rationalized": False}


def missing_column(name: str, n: int) -> pa.Array:
    """The column `name` for `n` rows that lack it: its default, or nulls."""
    typ = ROW_SCHEMA.field(name).type
    return pa.array([DEFAULTS[name]] * n, typ) if name in DEFAULTS else pa.nulls(n, typ)


def to_table(rows: list[dict]) -> pa.Table:
    """Rows as an Arrow table with the schema above (missing fields get their default, else null)."""
    return pa.Table.from_pylist([{c: r.get(c, DEFAULTS.get(c)) for c in COLUMNS} for r in rows], schema=ROW_SCHEMA)
