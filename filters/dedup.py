"""MinHash near-dedup: within the round and against every earlier round's kept rows.

Texts are shingled into character (byte) or word n-grams and hashed into datasketch-compatible
`affine32` signatures (`filters/minhash.py`). LSH uses the bands and rows datasketch's
`MinHashLSH` picks for the threshold (weighted towards recall, see `lsh_weights`); a candidate is
confirmed when the signatures' Jaccard estimate reaches the threshold.

The decision is greedy keep-first, as a user of `MinHashLSH` would write it (query, then insert if
nothing matched): rows are taken in order; a row is dropped when a *kept* row (an earlier round's,
or an earlier one of this round) shares a band with it and is estimated at or above the threshold.
Its `dup_of` is the best such kept row (highest estimate, then the earliest) and its `cluster_id`
is that row: a cluster is one kept row and the rows dropped onto it. We do not merge clusters
transitively (union-find over all similar pairs): chains A~B~C would then drop C although it is
not similar to anything kept. `dedup_duckdb.py` makes the same decisions out of core.

On a round's shards: `with_signatures` per shard, `decide` (or `dedup_duckdb.dedup_parquet`) over
all of them in order, then `apply_decisions` per shard. Each returns a new table.

Earlier rounds enter as stored signatures (the warehouse's `minhash` column), never re-hashed.
The index is rebuilt from them each round; `lsh_index` gives the same index as a datasketch
`MinHashLSH` for interactive queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasketch import LeanMinHash, MinHashLSH

from .minhash import band_keys, lsh_params, minhash_signatures, shingles  # noqa: F401 (re-export)
from .verify import set_column

SCHEME = "affine32"  # datasketch 2.0's default permutation scheme (uint32 hash values)


@dataclass
class DedupConfig:
    enabled: bool = True  # off: no near-dedup at all (the naive baseline of benchmarks/efficacy.py)
    # Estimated Jaccard at or above this is a near-duplicate: a common near-dedup cut, not tuned
    # here (the README's dedup benchmark checks agreement with exact Jaccard at it).
    threshold: float = 0.85
    num_perm: int = 128  # signature length; 128 gives a Jaccard estimate within ~±0.03 near 0.85
    ngram: int = 5  # shingle size (characters, or words when shingle="word"); a common size, not tuned
    shingle: str = "char"  # char: byte n-grams of the UTF-8 text; word: whitespace-separated words
    seed: int = 1  # MinHash permutation seed; recorded so signatures stay comparable across rounds
    # (false positive, false negative) weights datasketch's MinHashLSH picks bands/rows with. Its
    # default (0.5, 0.5) gives 8 x 16 at 0.85, which finds only 46% of pairs at exactly 0.85 and 81%
    # at 0.90. Every candidate is verified on its estimate, so a false positive costs a compare
    # and a false negative a duplicate: (0.1, 0.9) gives 11 x 11 (87% at 0.85, 98% at 0.90).
    lsh_weights: tuple[float, float] = (0.1, 0.9)
    # Base hash of a shingle's bytes. xxh32 is compiled and batched; sha1 is datasketch's default
    # (`MinHash()` with no hashfunc), ~30x slower here: use it only to mix with such signatures.
    hashfunc: str = "xxh32"

    def __post_init__(self):
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"dedup.threshold must be in (0, 1], got {self.threshold}")
        if self.num_perm < 2:
            raise ValueError(f"dedup.num_perm must be at least 2, got {self.num_perm}")
        if self.ngram < 1:
            raise ValueError(f"dedup.ngram must be at least 1, got {self.ngram}")
        if self.shingle not in ("char", "word"):
            raise ValueError(f"dedup.shingle must be 'char' or 'word', got {self.shingle!r}")
        if len(self.lsh_weights) != 2 or min(self.lsh_weights) < 0 or abs(sum(self.lsh_weights) - 1) > 1e-9:
            raise ValueError(f"dedup.lsh_weights must be two non-negative numbers summing to 1, got {self.lsh_weights}")
        if self.hashfunc not in ("xxh32", "sha1"):
            raise ValueError(f"dedup.hashfunc must be 'xxh32' or 'sha1', got {self.hashfunc!r}")

    @property
    def bands(self) -> tuple[int, int]:
        """(b, r): LSH bands and rows per band, as datasketch's MinHashLSH chooses them."""
        return lsh_params(self.threshold, self.num_perm, tuple(self.lsh_weights))


def signatures(texts: list[str], cfg: DedupConfig) -> np.ndarray:
    """(N, num_perm) uint32 MinHash signatures: datasketch's `MinHash(num_perm, seed)` (with
    `hashfunc=xxhash.xxh32_intdigest` unless cfg.hashfunc is "sha1") updated with
    `shingles(text, cfg.ngram, cfg.shingle)` holds the same values."""
    return minhash_signatures(texts, cfg.num_perm, cfg.seed, cfg.ngram, cfg.shingle, cfg.hashfunc)


def lean(sig: np.ndarray, seed: int) -> LeanMinHash:
    """A datasketch LeanMinHash over our hash values (for `MinHashLSH` and `.jaccard`)."""
    return LeanMinHash(seed=seed, hashvalues=sig, scheme=SCHEME)


def lsh_index(row_ids: list[str], sigs: np.ndarray, cfg: DedupConfig) -> MinHashLSH:
    """A datasketch MinHashLSH holding these signatures: the same index `dedup_signatures` uses."""
    lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm, weights=tuple(cfg.lsh_weights))
    with lsh.insertion_session() as session:
        for rid, sig in zip(row_ids, sigs):
            session.insert(rid, lean(sig, cfg.seed))
    return lsh


def bucket_ids(sigs: np.ndarray, cfg: DedupConfig) -> np.ndarray:
    """(N, b) int64: for each band, a dense id of the band's values, distinct across bands."""
    b, r = cfg.bands
    keys = band_keys(np.ascontiguousarray(sigs), b, r)
    out = np.empty(keys.shape, np.int64)
    offset = 0
    for k in range(b):
        uniq, inv = np.unique(keys[:, k], return_inverse=True)
        out[:, k] = inv + offset
        offset += len(uniq)
    return out


@nb.njit(cache=True)
def _greedy(sigs, buckets, n_prior, threshold):
    n, nb_ = buckets.shape
    perms = sigs.shape[1]
    head = np.full(buckets.max() + 1 if n else 1, -1, np.int64)  # bucket -> last kept entry
    nxt = np.empty(n * nb_, np.int64)  # entry -> previous kept entry of its bucket
    seen = np.full(n, -1, np.int64)  # last query that compared this row: verify each pair once
    dup_of = np.full(n, -1, np.int64)
    for i in range(n):
        best, best_j = -1, -1.0
        if i >= n_prior:  # earlier rounds' rows are kept as they are
            for k in range(nb_):
                e = head[buckets[i, k]]
                while e != -1:
                    j = e // nb_
                    if seen[j] != i:
                        seen[j] = i
                        eq = 0
                        for p in range(perms):
                            eq += sigs[i, p] == sigs[j, p]
                        jac = eq / perms
                        if jac >= threshold and (jac > best_j or (jac == best_j and j < best)):
                            best, best_j = j, jac
                    e = nxt[e]
        dup_of[i] = best
        if best == -1:
            for k in range(nb_):
                e = i * nb_ + k
                nxt[e] = head[buckets[i, k]]
                head[buckets[i, k]] = e
    return dup_of


def dedup_signatures(sigs: np.ndarray, cfg: DedupConfig, n_prior: int = 0) -> np.ndarray:
    """Greedy keep-first over `sigs` in order; the first `n_prior` rows are kept as they are.

    Returns `dup_of` (N,) int64: -1 for a kept row, else the index of the kept row it duplicates.
    """
    if len(sigs) == 0:
        return np.zeros(0, np.int64)
    if sigs.shape[1] != cfg.num_perm:
        raise ValueError(f"signatures have {sigs.shape[1]} values, the config says num_perm={cfg.num_perm}")
    return _greedy(np.ascontiguousarray(sigs, np.uint32), bucket_ids(sigs, cfg), n_prior, cfg.threshold)


def dedup_texts(texts: list[str], cfg: DedupConfig) -> np.ndarray:
    """Keep-mask (N,) bool of `texts`: False for a near-duplicate of an earlier kept text."""
    return dedup_signatures(signatures(texts, cfg), cfg) == -1


@dataclass
class DedupMetrics:
    """What near-dedup did to a round."""

    compared: int = 0  # this round's rows still kept after verification: hashed and compared
    prior: int = 0  # earlier rounds' kept rows they were compared against
    near_duplicate: int = 0  # of `compared`, dropped as a near-duplicate of a kept row
    seconds: float = 0.0  # what the round-wide decision took (the round's cost, loop/cost.py)


def text_of(table: pa.Table) -> pa.Array:
    """The text a row is hashed by: its prompt and completion, as one string."""
    return pc.binary_join_element_wise(table["prompt"], table["completion"], "")


def with_signatures(table: pa.Table, cfg: DedupConfig) -> pa.Table:
    """A new table whose `minhash` holds the signature of every kept row (null for dropped ones).

    Done per shard, where the shard is: the round-wide decision then needs only the signatures.
    """
    kept = table["kept"].fill_null(False).to_numpy(zero_copy_only=False)
    live = np.flatnonzero(kept)
    sigs = np.zeros((0, cfg.num_perm), np.uint32)
    if len(live):  # each distinct text hashed once (exact copies are common), then spread back
        texts = text_of(table.take(live)).combine_chunks().dictionary_encode()
        sigs = signatures(texts.dictionary.to_pylist(), cfg)[texts.indices.to_numpy()]
    sizes = np.where(kept, cfg.num_perm, 0)
    offsets = np.zeros(table.num_rows + 1, np.int32)
    np.cumsum(sizes, out=offsets[1:])
    col = pa.ListArray.from_arrays(pa.array(offsets), pa.array(sigs.reshape(-1), pa.uint32()), mask=pa.array(~kept))
    return set_column(table, "minhash", col)


def live_signatures(table: pa.Table) -> tuple[list[str], np.ndarray]:
    """(row ids, (N, num_perm) signatures) of the rows of `table` that have a signature."""
    t = table.select(["row_id", "minhash"]).filter(table["minhash"].is_valid())
    if t.num_rows == 0:
        return [], np.zeros((0, 0), np.uint32)
    sigs = t["minhash"].combine_chunks().flatten().to_numpy().astype(np.uint32, copy=False)
    return t["row_id"].to_pylist(), sigs.reshape(t.num_rows, -1)


def decide(
    row_ids: Sequence[str], sigs: np.ndarray, cfg: DedupConfig, prior: Iterable[tuple[str, np.ndarray]] = ()
) -> pa.Table:
    """Decisions (row_id, kept, dup_of, cluster_id) for rows in order, against `prior` (row_id,
    signature) pairs: the same table `dedup_duckdb.dedup_parquet` returns, less its `ord`."""
    prior_ids: list[str] = []
    prior_sigs: list[np.ndarray] = []
    seen: set[str] = set()
    for rid, sig in prior:
        if rid not in seen:
            seen.add(rid)
            prior_ids.append(rid)
            prior_sigs.append(np.asarray(sig, dtype=np.uint32))
    sigs = np.asarray(sigs, np.uint32).reshape(len(row_ids), -1) if len(row_ids) else np.zeros((0, cfg.num_perm), np.uint32)
    sigs_all = np.vstack([np.stack(prior_sigs), sigs]) if prior_sigs else sigs
    dup = dedup_signatures(sigs_all, cfg, n_prior=len(prior_ids))[len(prior_ids):]
    ids = prior_ids + list(row_ids)
    dup_of = [ids[d] if d != -1 else None for d in dup.tolist()]
    return pa.table({
        "row_id": pa.array(list(row_ids), pa.string()), "kept": pa.array(dup == -1),
        "dup_of": pa.array(dup_of, pa.string()),
        "cluster_id": pa.array([d or r for d, r in zip(dup_of, row_ids)], pa.string()),
    })


def apply_decisions(table: pa.Table, decisions: pa.Table) -> pa.Table:
    """A new table: the rows of `table` with a signature take their decision, in order; the rest
    pass unchanged. A duplicate is dropped with reason `near_duplicate`."""
    live = table["minhash"].is_valid().to_numpy(zero_copy_only=False)
    if int(live.sum()) != decisions.num_rows:
        raise ValueError(f"{decisions.num_rows} dedup decisions for {int(live.sum())} rows with a signature")
    at = np.cumsum(live) - 1  # row -> its decision
    idx = pa.array(np.where(live, at, 0))

    def spread(col: str, fallback: pa.Array) -> pa.Array:
        return pc.if_else(pa.array(live), decisions[col].take(idx) if decisions.num_rows else fallback, fallback)

    dropped = pc.and_(pa.array(live), pc.invert(spread("kept", table["kept"])))
    kept = pc.if_else(dropped, False, table["kept"])
    reason = pc.if_else(dropped, pa.scalar("near_duplicate"), table["drop_reason"])
    out = table
    for name, values in (("kept", kept), ("drop_reason", reason),
                         ("dup_of", spread("dup_of", table["dup_of"])),
                         ("cluster_id", spread("cluster_id", table["cluster_id"]))):
        out = set_column(out, name, values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)
    return out
