import random

import numpy as np
import pytest
import xxhash
from datasketch import MinHash, MinHashLSH
from synthloop.filters.dedup import (
    DedupConfig,
    apply_decisions,
    decide,
    dedup_signatures,
    dedup_texts,
    lean,
    live_signatures,
    lsh_index,
    shingles,
    signatures,
    with_signatures,
)
from synthloop.filters.minhash import xxh32
from synthloop.warehouse.schema import to_table

_rng = random.Random(0)


def dedup_rows(rows, cfg, prior=()):
    """The round's dedup stages on row dicts: signatures, decisions, applied; new rows and the drop count."""
    table = with_signatures(to_table(rows), cfg)  # every column of the schema, as a shard has
    ids, sigs = live_signatures(table)
    out = apply_decisions(table, decide(ids, sigs, cfg, prior))
    rows = out.to_pylist()
    return rows, sum(r["drop_reason"] == "near_duplicate" for r in rows)
WORDS = ["".join(_rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(_rng.randint(2, 8))) for _ in range(2000)]


def corpus(n, seed=0, dup_every=4, edits=2):
    """Random ~200-char texts; every `dup_every`-th is an earlier original with `edits` characters changed."""
    rng = random.Random(seed)
    texts, planted, originals = [], [], []
    for i in range(n):
        if i and i % dup_every == 0:
            t = list(texts[rng.choice(originals)])
            for _ in range(edits):
                t[rng.randrange(len(t))] = rng.choice("xyz")
            texts.append("".join(t))
            planted.append(i)
        else:
            originals.append(i)
            texts.append(" ".join(rng.choice(WORDS) for _ in range(40))[:200] + f" #{i}")
    return texts, planted


@pytest.mark.parametrize("data", [b"", b"a", b"abcd", b"abcdefghijklmno", b"abcdefghijklmnop", b"x" * 37, "héllo wörld".encode()])
def test_xxh32_kernel_is_xxhash(data):
    buf = np.frombuffer(b"__" + data + b"__", np.uint8)
    assert xxh32(buf, 2, 2 + len(data)) == xxhash.xxh32_intdigest(data)


@pytest.mark.parametrize("unit,n", [("char", 1), ("char", 5), ("char", 20), ("word", 1), ("word", 3)])
def test_signatures_equal_datasketch_minhash(unit, n):
    cfg = DedupConfig(num_perm=64, ngram=n, shingle=unit, seed=7)
    texts = ["the quick brown fox jumps", "the quick  brown fox jumped\n", "", "ab", "naïve café über"]
    sigs = signatures(texts, cfg)
    assert sigs.dtype == np.uint32 and sigs.shape == (5, 64)
    for t, s in zip(texts, sigs):
        m = MinHash(num_perm=64, seed=7, hashfunc=xxhash.xxh32_intdigest)
        m.update_batch(shingles(t, n, unit))
        assert np.array_equal(m.hashvalues, s)


def test_sha1_option_equals_datasketch_defaults():
    cfg = DedupConfig(num_perm=64, hashfunc="sha1")
    texts = ["the quick brown fox jumps", "the quick brown fox jumped"]
    for t, s in zip(texts, signatures(texts, cfg)):
        m = MinHash(num_perm=64, seed=cfg.seed)  # datasketch's defaults: affine32, SHA-1
        m.update_batch(shingles(t, cfg.ngram))
        assert np.array_equal(m.hashvalues, s)


def test_lean_minhash_jaccard_equals_ours_and_lsh_params_are_datasketchs():
    cfg = DedupConfig()
    a, b = signatures(["12345+67890=\n5+0+0=5\n4+9+0=13", "12345+67890=\n5+0+0=5\n4+9+1=14"], cfg)
    assert lean(a, cfg.seed).jaccard(lean(b, cfg.seed)) == np.mean(a == b)
    lsh = MinHashLSH(threshold=0.85, num_perm=128, weights=cfg.lsh_weights)
    assert cfg.bands == (lsh.b, lsh.r)
    assert DedupConfig(lsh_weights=(0.5, 0.5)).bands == (MinHashLSH(0.85, 128).b, MinHashLSH(0.85, 128).r)


def test_planted_duplicates_are_found_and_nothing_else():
    # One edit keeps a copy at Jaccard ~0.95, where the LSH (11 x 11) misses ~1 in 10^4.
    texts, planted = corpus(800, edits=1)
    dropped = set(np.flatnonzero(~dedup_texts(texts, DedupConfig())).tolist())
    assert dropped <= set(planted)
    assert len(dropped) >= 0.99 * len(planted)


def test_decisions_equal_a_datasketch_minhashlsh_loop():
    """Our banded index decides exactly as query-verify-insert over datasketch's MinHashLSH."""
    cfg = DedupConfig(threshold=0.7)
    texts, _ = corpus(300, seed=3, edits=6)  # 6 edits: estimates spread around the threshold
    sigs = signatures(texts, cfg)
    n_prior = 60  # the first 60 play an earlier round's kept rows
    ours = dedup_signatures(sigs, cfg, n_prior=n_prior)
    lsh = lsh_index([str(i) for i in range(n_prior)], sigs[:n_prior], cfg)
    for i in range(n_prior, len(texts)):
        cands = [int(c) for c in lsh.query(lean(sigs[i], cfg.seed))]
        scored = [(np.mean(sigs[i] == sigs[j]), -j) for j in cands]
        hits = [s for s in scored if s[0] >= cfg.threshold]
        expect = -max(hits)[1] if hits else -1
        assert ours[i] == expect, i
        if expect == -1:
            lsh.insert(str(i), lean(sigs[i], cfg.seed))
    assert (ours[n_prior:] != -1).sum() > 20  # the test saw real duplicates


def test_dedup_within_round_and_against_prior():
    cfg = DedupConfig()
    base = "12345+67890=\n5+0+0=5\n4+9+0=13\n3+8+1=12\n2+7+1=10\n1+6+1=8\n>53280"
    rows = [
        {"row_id": "a", "prompt": "", "completion": base, "kept": True},
        {"row_id": "b", "prompt": "", "completion": base, "kept": True},  # exact duplicate
        {"row_id": "c", "prompt": "", "completion": "something else entirely, not addition", "kept": True},
        {"row_id": "d", "prompt": "", "completion": base, "kept": False},  # already dropped: untouched
    ]
    given = [dict(r) for r in rows]
    rows, drops = dedup_rows(rows, cfg)
    assert drops == 1 and given[1]["kept"]  # a new list: the rows given stay as they were
    assert rows[1]["dup_of"] == "a" and rows[1]["cluster_id"] == "a" and not rows[1]["kept"]
    assert rows[1]["drop_reason"] == "near_duplicate" and rows[0]["cluster_id"] == "a"
    assert rows[2]["kept"] and rows[3].get("dup_of") is None and rows[3]["minhash"] is None
    # A later round: the stored signature of "a" makes a new copy a duplicate.
    later = [{"row_id": "e", "prompt": "", "completion": base, "kept": True}]
    later, _ = dedup_rows(later, cfg, prior=[("a", np.array(rows[0]["minhash"], dtype=np.uint32))])
    assert later[0]["dup_of"] == "a" and not later[0]["kept"]


def test_cross_round_duplicates_through_the_warehouse(tmp_path):
    """Round 2 finds copies of round 1's kept rows from the stored `minhash` column alone."""
    from synthloop.loop.filter import prior_signatures
    from synthloop.warehouse import Catalog

    cfg = DedupConfig()
    texts, _ = corpus(60, seed=5, dup_every=10**9)
    r1 = [{"row_id": f"r1-{i}", "prompt": "", "completion": t, "kept": True} for i, t in enumerate(texts[:40])]
    r1, _ = dedup_rows(r1, cfg)
    cat = Catalog(tmp_path)
    cat.publish("d", r1, round=1)
    r1_texts = {r["row_id"]: r["completion"] for r in r1}
    r2 = [{"row_id": f"r2-{i}", "prompt": "", "completion": t[:-1] + "!", "kept": True} for i, t in enumerate(texts[30:60])]
    r2, drops = dedup_rows(r2, cfg, prior=prior_signatures(cat, "d", before_round=2))
    dropped = [r for r in r2 if not r["kept"]]
    assert drops == 10 == len(dropped)  # texts[30:40] were kept in round 1
    for r in dropped:
        assert r1_texts[r["dup_of"]][:-1] == r["completion"][:-1] and r["cluster_id"] == r["dup_of"]


def test_duckdb_band_join_equals_in_memory(tmp_path):
    from synthloop.filters.dedup_duckdb import dedup_parquet, write_shard

    cfg = DedupConfig(threshold=0.7)
    texts, _ = corpus(500, seed=11, dup_every=3, edits=5)
    texts += texts[:5]  # exact copies too
    ids = [f"x{i}" for i in range(len(texts))]
    prior_rows = [{"row_id": f"p{i}", "prompt": "", "completion": t, "kept": True} for i, t in enumerate(texts[:80])]
    prior_rows, _ = dedup_rows(prior_rows, cfg)  # an earlier round, published as the warehouse would
    prior_file = tmp_path / "v1" / "part-00000.parquet"
    prior_file.parent.mkdir()
    import pyarrow.parquet as pq

    pq.write_table(to_table(prior_rows), prior_file)
    new = texts[60:]
    rows = [{"row_id": rid, "prompt": "", "completion": t, "kept": True} for rid, t in zip(ids[60:], new)]
    rows, _ = dedup_rows(rows, cfg, prior=[(r["row_id"], r["minhash"]) for r in prior_rows if r["kept"]])

    sigs = signatures(new, cfg)
    shards = [write_shard(tmp_path / f"s{k}.parquet", ids[60 + lo : 60 + lo + 150], sigs[lo : lo + 150], lo)
              for k, lo in enumerate(range(0, len(new), 150))]
    out = dedup_parquet(shards, cfg, prior=[prior_file]).to_pylist()
    assert [o["row_id"] for o in out] == [r["row_id"] for r in rows]
    assert [o["kept"] for o in out] == [r["kept"] for r in rows]
    assert [o["dup_of"] for o in out] == [r["dup_of"] for r in rows]
    assert [o["cluster_id"] for o in out] == [r["cluster_id"] for r in rows]
    assert sum(not r["kept"] for r in rows) > 100
    assert any(r["dup_of"] and r["dup_of"].startswith("p") for r in rows)  # across rounds too


def test_bad_config_is_one_clear_error():
    with pytest.raises(ValueError, match="threshold"):
        DedupConfig(threshold=1.5)
    with pytest.raises(ValueError, match="shingle"):
        DedupConfig(shingle="byte")
