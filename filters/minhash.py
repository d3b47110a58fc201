"""Vectorised MinHash signatures, bit-compatible with datasketch's `affine32` scheme.

datasketch hashes each shingle with a base hash, pre-mixes it with the MurmurHash3 finalizer
(`fmix32`) and takes, per permutation k, min over shingles of `a_k * h + b_k mod 2^32`, with
(a, b) drawn from `np.random.RandomState(seed)`. We do the same arithmetic, but in one compiled
pass over a whole batch of texts (numba): no Python object per shingle.

The base hash is xxh32 (seed 0) of the shingle's bytes, so
`datasketch.MinHash(num_perm, seed, hashfunc=xxhash.xxh32_intdigest)` fed with `shingles(...)`
gives exactly our signature. (datasketch's own default base hash, SHA-1, is ~50x slower per shingle
and cannot be vectorised; `hashfunc="sha1"` reproduces it, at Python speed, for comparisons.)
"""

from __future__ import annotations

from functools import lru_cache

import numba as nb
import numpy as np
from datasketch import MinHash, MinHashLSH

# 32-bit arithmetic in uint64 lanes: every product is masked back to 32 bits. The numbers in the
# kernels below are the specifications' own: xxHash32's five primes, its stripe of 16 bytes, lane
# rotations (1, 7, 12, 18; 13; 17; 11) and avalanche shifts (15, 13, 16); MurmurHash3's fmix32
# multipliers and shifts (16, 13, 16).
M32 = np.uint64(0xFFFFFFFF)
P1, P2, P3, P4, P5 = (np.uint64(x) for x in (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1))


def shingles(text: str, n: int, unit: str = "char") -> list[bytes]:
    """The shingles of `text`, as datasketch would be fed them (reference, pure Python).

    char: n-grams of the UTF-8 bytes; word: n consecutive whitespace-separated words joined by one
    space. A text shorter than n is one shingle (itself), so it still has a signature.

    >>> shingles("abcd", 3)
    [b'abc', b'bcd']
    >>> shingles("a  b c", 2, "word")
    [b'a b', b'b c']
    """
    if unit == "word":
        words = text.split()
        if len(words) <= n:
            return [" ".join(words).encode("utf-8", "surrogatepass")]
        return [" ".join(words[i : i + n]).encode("utf-8", "surrogatepass") for i in range(len(words) - n + 1)]
    b = text.encode("utf-8", "surrogatepass")
    if len(b) <= n:
        return [b]
    return [b[i : i + n] for i in range(len(b) - n + 1)]


@lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's (a, b) affine32 permutation parameters for this seed, each (num_perm,) uint32."""
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return a.astype(np.uint32), b.astype(np.uint32)


@lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)) -> tuple[int, int]:
    """(bands, rows) that datasketch's MinHashLSH picks for this threshold and (FP, FN) weights."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=tuple(weights))
    return lsh.b, lsh.r


# -- compiled kernels -----------------------------------------------------------------------
@nb.njit(inline="always")
def _rotl(x, r):
    return ((x << np.uint64(r)) | (x >> np.uint64(32 - r))) & M32


@nb.njit(inline="always")
def _u32le(buf, i):
    return (np.uint64(buf[i]) | (np.uint64(buf[i + 1]) << np.uint64(8))
            | (np.uint64(buf[i + 2]) << np.uint64(16)) | (np.uint64(buf[i + 3]) << np.uint64(24)))


@nb.njit(cache=True)
def xxh32(buf, start, end):
    """xxHash32 (seed 0) of buf[start:end]; the same value as `xxhash.xxh32_intdigest`."""
    n = end - start
    i = start
    if n >= 16:
        v1 = (P1 + P2) & M32
        v2 = P2
        v3 = np.uint64(0)
        v4 = (np.uint64(0x100000000) - P1) & M32
        while i + 16 <= end:
            v1 = (_rotl((v1 + _u32le(buf, i) * P2) & M32, 13) * P1) & M32
            v2 = (_rotl((v2 + _u32le(buf, i + 4) * P2) & M32, 13) * P1) & M32
            v3 = (_rotl((v3 + _u32le(buf, i + 8) * P2) & M32, 13) * P1) & M32
            v4 = (_rotl((v4 + _u32le(buf, i + 12) * P2) & M32, 13) * P1) & M32
            i += 16
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & M32
    else:
        h = P5
    h = (h + np.uint64(n)) & M32
    while i + 4 <= end:
        h = (_rotl((h + _u32le(buf, i) * P3) & M32, 17) * P4) & M32
        i += 4
    while i < end:
        h = (_rotl((h + np.uint64(buf[i]) * P5) & M32, 11) * P1) & M32
        i += 1
    h ^= h >> np.uint64(15)
    h = (h * P2) & M32
    h ^= h >> np.uint64(13)
    h = (h * P3) & M32
    h ^= h >> np.uint64(16)
    return h


@nb.njit(inline="always")
def _fmix32(h):
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & M32
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & M32
    return h ^ (h >> np.uint64(16))


@nb.njit(inline="always")
def _min_hash(hv, m, a, b, row):
    # Permutation-outer, shingle-inner: the inner loop is a uint32 min-reduction that LLVM
    # vectorises (uint32 wraparound is the mod 2^32 of the affine scheme). 1.7x the other order.
    for k in range(a.shape[0]):
        ak, bk = a[k], b[k]
        mn = np.uint32(0xFFFFFFFF)
        for i in range(m):
            mn = min(mn, np.uint32(ak * hv[i] + bk))
        row[k] = mn


@nb.njit(cache=True)
def _char_signatures(buf, offsets, n, a, b, out):
    hv = np.empty(buf.shape[0] + 1, np.uint32)  # the current text's shingle hashes
    for d in range(offsets.shape[0] - 1):
        s, e = offsets[d], offsets[d + 1]
        if e - s <= n:
            hv[0] = _fmix32(xxh32(buf, s, e))
            m = 1
        else:
            m = e - n + 1 - s
            for i in range(m):
                hv[i] = _fmix32(xxh32(buf, s + i, s + i + n))
        _min_hash(hv, m, a, b, out[d])


@nb.njit(cache=True)
def _word_signatures(buf, offsets, n, a, b, out):
    # Texts arrive whitespace-normalised (single spaces), so words start after a space.
    starts = np.empty(buf.shape[0] + 2, np.int64)
    hv = np.empty(buf.shape[0] + 1, np.uint32)
    for d in range(offsets.shape[0] - 1):
        s, e = offsets[d], offsets[d + 1]
        nw = 0
        for i in range(s, e):
            if i == s or buf[i - 1] == 32:  # 32: the space byte
                starts[nw] = i
                nw += 1
        if nw <= n:
            hv[0] = _fmix32(xxh32(buf, s, e))
            m = 1
        else:
            starts[nw] = e + 1  # a virtual word after the end: word k ends at starts[k+1] - 1
            m = nw - n + 1
            for k in range(m):
                hv[k] = _fmix32(xxh32(buf, starts[k], starts[k + n] - 1))
        _min_hash(hv, m, a, b, out[d])


@nb.njit(cache=True)
def band_keys(sigs, bands, rows):
    """(N, bands) uint64: a 64-bit hash of each band's `rows` signature values."""
    out = np.empty((sigs.shape[0], bands), np.uint64)
    for i in range(sigs.shape[0]):
        for k in range(bands):
            # Seeded per band with the 64-bit golden ratio, then FNV-1a's 64-bit prime with a
            # xor-shift (29) to mix the high bits down: any good 64-bit mix would do.
            h = np.uint64(0x9E3779B97F4A7C15) * np.uint64(k + 1)
            for j in range(k * rows, (k + 1) * rows):
                h = (h ^ np.uint64(sigs[i, j])) * np.uint64(0x100000001B3)
                h ^= h >> np.uint64(29)
            out[i, k] = h
    return out


# -- public ---------------------------------------------------------------------------------
def _pack(texts: list[str], unit: str) -> tuple[np.ndarray, np.ndarray]:
    if unit == "word":
        texts = [" ".join(t.split()) for t in texts]
    enc = [t.encode("utf-8", "surrogatepass") for t in texts]
    offsets = np.zeros(len(enc) + 1, np.int64)
    np.cumsum([len(x) for x in enc], out=offsets[1:])
    return np.frombuffer(b"".join(enc), np.uint8), offsets


def minhash_signatures(
    texts: list[str], num_perm: int = 128, seed: int = 1, n: int = 5, unit: str = "char",
    hashfunc: str = "xxh32", batch: int = 65536,  # texts packed at once: bounds the byte buffer
) -> np.ndarray:
    """(N, num_perm) uint32 signatures of `texts` over their n-gram shingles (see `shingles`)."""
    if unit not in ("char", "word"):
        raise ValueError(f"shingle unit must be 'char' or 'word', got {unit!r}")
    if n < 1:
        raise ValueError(f"shingle size n must be >= 1, got {n}")
    a, b = permutations(num_perm, seed)
    out = np.empty((len(texts), num_perm), np.uint32)
    if hashfunc == "sha1":
        for i, t in enumerate(texts):
            m = MinHash(num_perm=num_perm, seed=seed)  # datasketch's default: SHA-1 base hash
            m.update_batch(shingles(t, n, unit))
            out[i] = m.hashvalues
        return out
    if hashfunc != "xxh32":
        raise ValueError(f"hashfunc must be 'xxh32' or 'sha1', got {hashfunc!r}")
    kernel = _word_signatures if unit == "word" else _char_signatures
    for lo in range(0, len(texts), batch):  # bounded memory for the packed bytes
        buf, offsets = _pack(texts[lo : lo + batch], unit)
        kernel(buf, offsets, n, a, b, out[lo : lo + batch])
    return out

