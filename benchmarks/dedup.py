"""Near-dedup speed, texts -> keep-mask, on one core: ours vs datasketch vs rensa, side by side.

    python benchmarks/dedup.py --docs 100000        # needs: pip install -e ".[bench]"  (rensa)

The same N texts of ~300 characters (random words), 10% of them planted near-duplicates of an
earlier text with 1-6 characters changed (Jaccard ~0.81-0.97 around the 0.85 threshold). Each
method goes from the texts to a keep-mask with the same rule: a text is dropped when an earlier kept
text is a candidate of its LSH index with estimated Jaccard >= threshold (5-char shingles, 128
permutations):
  datasketch  Python shingling + MinHash.bulk + MinHashLSH (b x r = 11 x 11: its choice for our
              recall-leaning weights, see DedupConfig.lsh_weights), query/insert loop
  rensa       Python shingling + RMinHashDeduplicator.add_pairs with 16 x 8 (rensa needs the bands
              to divide num_perm: the rows per band nearest to 11)
  ours        synthloop.filters.dedup.dedup_texts (compiled shingling + hashing, banded greedy index)
Agreement: on a random sample of texts, the share whose keep/drop decision equals the exact one
(dropped iff some earlier text has exact 5-gram Jaccard >= threshold).
Then the cost of the diversity metrics per 10k texts. The last line is the summary.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_v] = "1"  # one core, for every library; the process is also pinned below
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import scipy.sparse as sp
from datasketch import MinHash, MinHashLSH
from synthloop.filters.dedup import DedupConfig, dedup_texts, signatures
from synthloop.filters.diversity import (
    DiversityConfig,
    distinct_solutions_per_problem,
    diversity_scores,
)

ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def corpus(n: int, seed: int = 0, dup_frac: float = 0.1) -> tuple[list[str], np.ndarray]:
    """N texts of ~300 chars; a `dup_frac` share are an earlier original with 1-6 chars changed."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choices(ALPHABET, k=rng.randint(2, 9))) for _ in range(20000)]
    texts, planted, originals = [], np.zeros(n, bool), []
    for i in range(n):
        if originals and rng.random() < dup_frac:
            t = list(texts[rng.choice(originals)])
            for _ in range(rng.randint(1, 6)):
                t[rng.randrange(len(t))] = rng.choice(ALPHABET)
            texts.append("".join(t))
            planted[i] = True
        else:
            words, size = [], 0
            while size < 300:
                w = rng.choice(vocab)
                words.append(w)
                size += len(w) + 1
            originals.append(i)
            texts.append(" ".join(words)[:300])
    return texts, planted


def run_datasketch(texts: list[str], cfg: DedupConfig) -> np.ndarray:
    n = cfg.ngram
    sh = [[b[i : i + n] for i in range(len(b) - n + 1)] for b in (t.encode() for t in texts)]
    mhs = MinHash.bulk(sh, num_perm=cfg.num_perm, seed=cfg.seed)
    lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm, weights=cfg.lsh_weights)
    keep = np.zeros(len(texts), bool)
    for i, m in enumerate(mhs):
        if not any(m.jaccard(mhs[j]) >= cfg.threshold for j in lsh.query(m)):
            lsh.insert(i, m)
            keep[i] = True
    return keep


def run_rensa(texts: list[str], cfg: DedupConfig) -> np.ndarray:
    import rensa

    n = cfg.ngram
    sh = [[t[i : i + n] for i in range(len(t) - n + 1)] for t in texts]
    # rensa needs bands dividing num_perm: take the rows per band nearest to datasketch's choice.
    r = cfg.bands[1]
    divisors = [d for d in range(1, cfg.num_perm + 1) if cfg.num_perm % d == 0]
    bands = min(divisors, key=lambda d: abs(cfg.num_perm // d - r))
    dd = rensa.RMinHashDeduplicator(cfg.threshold, cfg.num_perm, True, bands)
    return np.array(dd.add_pairs([(str(i), s) for i, s in enumerate(sh)]), bool)


def exact_drops(texts: list[str], sample: np.ndarray, cfg: DedupConfig) -> np.ndarray:
    """For each sampled text: does an earlier text have exact shingle Jaccard >= threshold?"""
    n = cfg.ngram
    assert n <= 8, "shingles are packed into 64-bit integers: exact for n <= 8 bytes"
    shift = (8 * np.arange(n, dtype=np.uint64))
    sets = []
    for t in texts:
        b = np.frombuffer(t.encode(), np.uint8).astype(np.uint64)
        w = np.lib.stride_tricks.sliding_window_view(b, n)
        sets.append(np.unique((w << shift).sum(axis=1)))
    sizes = np.array([len(s) for s in sets])
    flat = np.concatenate(sets)
    vocab, cols = np.unique(flat, return_inverse=True)
    rows = np.repeat(np.arange(len(texts)), sizes)
    a = sp.csr_matrix((np.ones(len(flat), np.int32), (rows, cols)), shape=(len(texts), len(vocab)))
    inter = (a[sample] @ a.T).tocsr()  # (S, N) shared shingles
    out = np.zeros(len(sample), bool)
    for k, i in enumerate(sample):
        js = inter.indices[inter.indptr[k] : inter.indptr[k + 1]]
        both = inter.data[inter.indptr[k] : inter.indptr[k + 1]]
        early = js < i
        jac = both[early] / (sizes[i] + sizes[js[early]] - both[early])
        out[k] = bool((jac >= cfg.threshold).any())
    return out


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def diversity_cost(texts: list[str]) -> None:
    """Seconds per 10k texts for each diversity metric (the embedding ones on their subsample)."""
    import torch

    torch.set_num_threads(1)
    texts = texts[:10000]
    scale = 10000 / len(texts)
    cheap = DiversityConfig(embeddings=False)
    _, t_cheap = timed(diversity_scores, texts, cheap)
    rows = [{"problem_id": str(i % 2500), "correct": True, "completion": t} for i, t in enumerate(texts)]
    _, t_sol = timed(distinct_solutions_per_problem, rows, True)
    from synthloop.filters.diversity import embedding_scores
    from synthloop.filters.embed import encoder

    _, t_load = timed(encoder)
    cfg = DiversityConfig()
    _, t_emb = timed(embedding_scores, texts, cfg)
    per_text = t_emb / cfg.embed_sample
    print(f"diversity per 10k texts (1 core): distinct-1/2/3 + gzip ratio {t_cheap * scale:.2f} s, "
          f"distinct solutions {t_sol * scale:.2f} s")
    print(f"  embeddings (all-MiniLM-L6-v2, subsample {cfg.embed_sample}) + mean distance + Vendi (dual "
          f"d x d form): {t_emb:.2f} s per round whatever the size (model load once: {t_load:.1f} s); "
          f"embedding all 10k instead would take ~{per_text * 10000:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000, help="number of texts (default 100000)")
    ap.add_argument("--sample", type=int, default=2000, help="texts checked against exact Jaccard")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t_start = time.perf_counter()
    if args.docs < 10:
        sys.exit("dedup benchmark: --docs must be at least 10")
    try:
        import rensa  # noqa: F401
    except ImportError:
        sys.exit('dedup benchmark: rensa is not installed; run  pip install -e ".[bench]"')
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    cfg = DedupConfig()
    texts, planted = corpus(args.docs, args.seed)
    print(f"{args.docs} texts, mean {np.mean([len(t) for t in texts]):.0f} chars, {planted.sum()} planted "
          f"near-duplicates; threshold {cfg.threshold}, num_perm {cfg.num_perm}, {cfg.ngram}-char shingles, "
          f"LSH b x r = {cfg.bands[0]} x {cfg.bands[1]}; one core")
    _, t_warm = timed(dedup_texts, texts[:100], cfg)  # numba: compiled once per machine, loaded per process
    results = {}
    for name, fn in (("datasketch", run_datasketch), ("rensa", run_rensa), ("ours", dedup_texts)):
        keep, t = timed(fn, texts, cfg)
        results[name] = (keep, t)
    _, t_sig = timed(signatures, texts, cfg)
    sample = np.sort(np.random.default_rng(args.seed).choice(args.docs, min(args.sample, args.docs), replace=False))
    truth, t_exact = timed(exact_drops, texts, sample, cfg)
    print(f"exact Jaccard on {len(sample)} sampled texts ({truth.sum()} duplicates among them): {t_exact:.1f} s")
    print(f"{'method':<11} {'seconds':>8} {'docs/s':>9} {'dropped':>8} {'planted found':>14} {'agreement':>10}")
    rate = {}
    agree = {}
    for name, (keep, t) in results.items():
        rate[name] = args.docs / t
        agree[name] = float(np.mean(keep[sample] == ~truth))
        found = (~keep & planted).sum() / max(planted.sum(), 1)
        print(f"{name:<11} {t:8.2f} {rate[name]:9.0f} {(~keep).sum():8d} {found:14.3f} {agree[name]:10.4f}")
    print(f"ours: signatures alone {t_sig:.2f} s ({args.docs / t_sig:.0f} docs/s), index+decisions "
          f"{results['ours'][1] - t_sig:.2f} s; first call in a process (numba cache load) {t_warm:.2f} s")
    print(f"ratios: ours/rensa {rate['ours'] / rate['rensa']:.2f}x, ours/datasketch "
          f"{rate['ours'] / rate['datasketch']:.1f}x, rensa/datasketch {rate['rensa'] / rate['datasketch']:.1f}x")
    print(f"agreement with exact decisions: datasketch {agree['datasketch']:.4f}, rensa {agree['rensa']:.4f}, "
          f"ours {agree['ours']:.4f}")
    diversity_cost(texts)
    print(f"dedup: ours_per_s={rate['ours']:.0f} datasketch_per_s={rate['datasketch']:.0f} "
          f"rensa_per_s={rate['rensa']:.0f} ours_vs_rensa={rate['ours'] / rate['rensa']:.2f} "
          f"agreement={agree['ours']:.4f} wall_s={time.perf_counter() - t_start:.0f}")


if __name__ == "__main__":
    main()
