"""MinHash near-dedup with datasketch: within the round and against every earlier round's kept rows.

Texts are shingled into character n-grams; LSH (bands and rows chosen from the threshold, as
datasketch does) proposes candidates and the signatures' Jaccard estimate confirms them. Each
dropped row records the row it duplicates (`dup_of`) and its cluster (the first row of the group).
Earlier rounds enter as stored signatures (a `minhash` column in the warehouse), never re-hashed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH


@dataclass
class DedupConfig:
    threshold: float = 0.85  # estimated Jaccard at or above this is a near-duplicate
    num_perm: int = 128
    ngram: int = 5  # character shingle size
    seed: int = 1  # MinHash permutation seed; recorded so signatures stay comparable across rounds


SCHEME = "affine32"  # datasketch 2.0's default permutation scheme (uint32 hash values)


def shingles(text: str, n: int) -> list[bytes]:
    """Character n-grams (the whole text when shorter than n)."""
    b = text.encode("utf-8", "surrogatepass")
    if len(b) <= n:
        return [b]
    return [b[i : i + n] for i in range(len(b) - n + 1)]


def signatures(texts: list[str], cfg: DedupConfig) -> np.ndarray:
    """(N, num_perm) uint32 MinHash signatures, the same as datasketch's `MinHash.update` gives."""
    mhs = MinHash.bulk(
        [shingles(t, cfg.ngram) for t in texts], num_perm=cfg.num_perm, seed=cfg.seed, scheme=SCHEME
    )
    return np.array([m.hashvalues for m in mhs], dtype=np.uint32).reshape(len(texts), cfg.num_perm)


def _lean(sig: np.ndarray, seed: int) -> LeanMinHash:
    return LeanMinHash(seed=seed, hashvalues=sig, scheme=SCHEME)


def dedup_rows(
    rows: list[dict],
    cfg: DedupConfig,
    prior: Iterable[tuple[str, np.ndarray]] = (),
    text_of=lambda r: r["prompt"] + r["completion"],
) -> Counter:
    """Mark near-duplicates among the kept rows, in order, against `prior` (row_id, signature) pairs.

    Only rows still kept are hashed and compared. Sets `minhash`, `dup_of`, `cluster_id`, and drops
    duplicates with reason `near_duplicate`. Returns the drop count.
    """
    lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm)
    sigs_by_id: dict[str, np.ndarray] = {}
    cluster: dict[str, str] = {}
    for rid, sig in prior:
        sig = np.asarray(sig, dtype=np.uint32)
        if rid not in sigs_by_id:
            lsh.insert(rid, _lean(sig, cfg.seed))
            sigs_by_id[rid], cluster[rid] = sig, rid
    live = [r for r in rows if r["kept"]]
    sigs = signatures([text_of(r) for r in live], cfg) if live else np.zeros((0, cfg.num_perm), np.uint32)
    drops: Counter = Counter()
    for row, sig in zip(live, sigs):
        best, best_j = None, 0.0
        for cand in lsh.query(_lean(sig, cfg.seed)):
            j = float(np.mean(sigs_by_id[cand] == sig))
            if j >= cfg.threshold and j > best_j:
                best, best_j = cand, j
        row["minhash"] = sig.tolist()
        if best is None:
            lsh.insert(row["row_id"], _lean(sig, cfg.seed))
            sigs_by_id[row["row_id"]], cluster[row["row_id"]] = sig, row["row_id"]
            row["cluster_id"], row["dup_of"] = row["row_id"], None
        else:
            row.update(kept=False, drop_reason="near_duplicate", dup_of=best, cluster_id=cluster[best])
            drops["near_duplicate"] += 1
    return drops
