"""Keyframe retrieval for relocalisation: a small bag of binary words built from the map's own
ORB descriptors, tf-idf weighting and an L1 similarity score (in the spirit of DBoW2).

The vocabulary is a tree of k-majority clusters (k-medians under the Hamming distance: each
centre bit is the majority of its members' bits), ``branching ** depth`` words. It is trained
from the keyframes' descriptors the first time the database is queried (no vocabulary file to
ship) and retrained when the map has grown ``retrain_growth`` times since; every keyframe's
word histogram is cached by keyframe id.

>>> db = KeyframeDatabase(branching=8, depth=2, seed=0)               # doctest: +SKIP
>>> db.query(tracker.map, feats.desc, n=5)                           # doctest: +SKIP
[(0.31, 12), (0.22, 11), ...]
"""

from __future__ import annotations

import logging

import numpy as np

from arkit.tracking.vslam.features import hamming

log = logging.getLogger(__name__)


def _dist(desc: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Hamming distances (N, 32) x (k, 32) -> (N, k) for a few centres (popcount, no BLAS:
    a multi-threaded matmul is slower than this on a loaded machine)."""
    return hamming(desc[:, None, :], centres[None, :, :])


def _majority(desc: np.ndarray) -> np.ndarray:
    """Bitwise majority of uint8 descriptors (M, 32) -> (32,) uint8."""
    bits = np.unpackbits(desc, axis=1)
    return np.packbits(bits.sum(0) * 2 > len(desc))


def kmajority(desc: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 6) -> tuple:
    """Cluster binary descriptors with k-majority (k-means++ seeding, Hamming distance).

    Parameters
    ----------
    desc : (N, 32) uint8
    k : int
    rng : numpy.random.Generator
        Seeds the k-means++ initialisation.

    Returns
    -------
    centres : (k', 32) uint8
        ``k' = min(k, number of distinct descriptors)``.
    labels : (N,) int64
    """
    n = len(desc)
    if n == 0:
        return np.zeros((0, 32), np.uint8), np.zeros(0, np.int64)
    k = min(k, n)
    idx = [int(rng.integers(n))]
    d = _dist(desc, desc[idx]).min(1).astype(np.float64)
    while len(idx) < k:
        p = d * d
        if p.sum() <= 0:
            break
        idx.append(int(rng.choice(n, p=p / p.sum())))
        d = np.minimum(d, _dist(desc, desc[idx[-1:]])[:, 0])
    centres = desc[idx].copy()
    labels = _dist(desc, centres).argmin(1)
    for _ in range(iterations):
        new = np.array([_majority(desc[labels == c]) if np.any(labels == c) else centres[c]
                        for c in range(len(centres))], np.uint8)
        new_labels = _dist(desc, new).argmin(1)
        centres = new
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    return centres, labels.astype(np.int64)


class Vocabulary:
    """A ``branching``-ary tree of binary cluster centres; leaves are the words.

    Parameters
    ----------
    branching, depth : int
        At most ``branching ** depth`` words.
    seed : int
        Seed of the clustering.
    """

    def __init__(self, branching: int = 10, depth: int = 3, seed: int = 0):
        self.branching, self.depth, self.seed = int(branching), int(depth), int(seed)
        self.centres = []   # per level: (n_nodes_level, branching, 32) uint8, -1 padded via valid mask
        self.valid = []     # per level: (n_nodes_level, branching) bool
        self.n_words = 0

    def train(self, desc: np.ndarray, max_descriptors: int = 20000) -> "Vocabulary":
        """Build the tree from descriptors (N, 32) uint8 (a seeded subset of ``max_descriptors``)."""
        rng = np.random.default_rng(self.seed)
        desc = np.ascontiguousarray(desc, np.uint8)
        if len(desc) > max_descriptors:
            desc = desc[rng.choice(len(desc), max_descriptors, replace=False)]
        b = self.branching
        groups = [desc]
        self.centres, self.valid = [], []
        for _level in range(self.depth):
            C = np.zeros((len(groups), b, 32), np.uint8)
            V = np.zeros((len(groups), b), bool)
            next_groups = []
            for g, members in enumerate(groups):
                if len(members) == 0:
                    next_groups += [members[:0]] * b
                    continue
                c, lab = kmajority(members, b, rng)
                C[g, :len(c)] = c
                V[g, :len(c)] = True
                next_groups += [members[lab == j] for j in range(b)]
            self.centres.append(C)
            self.valid.append(V)
            groups = next_groups
        self.n_words = b ** self.depth
        return self

    @property
    def trained(self) -> bool:
        return self.n_words > 0

    def words(self, desc: np.ndarray) -> np.ndarray:
        """Word id of each descriptor (N, 32) uint8 -> (N,) int64 (greedy descent of the tree)."""
        n = len(desc)
        node = np.zeros(n, np.int64)
        if n == 0:
            return node
        desc = np.ascontiguousarray(desc, np.uint8)
        for C, V in zip(self.centres, self.valid):
            d = hamming(desc[:, None, :], C[node]).astype(np.float64)       # (n, b)
            d[~V[node]] = np.inf
            node = node * self.branching + d.argmin(1)
        return node


class KeyframeDatabase:
    """Bag-of-words index over a :class:`~arkit.tracking.vslam.map.Map`'s keyframes.

    Parameters
    ----------
    branching, depth : int
        Vocabulary shape (``branching ** depth`` words).
    retrain_growth : float
        Retrain the vocabulary when the number of keyframes has grown by this factor since
        the last training (the first vocabulary comes from only a few keyframes).
    seed : int
    """

    def __init__(self, branching: int = 10, depth: int = 3, retrain_growth: float = 2.0, seed: int = 0):
        self.branching, self.depth, self.seed = branching, depth, seed
        self.retrain_growth = float(retrain_growth)
        self.vocabulary = Vocabulary(branching, depth, seed)
        self._trained_on = 0
        self._hist = {}   # keyframe id -> (n_words,) float32 term counts

    def _ensure_vocabulary(self, keyframes) -> None:
        n = len(keyframes)
        if self.vocabulary.trained and n < self.retrain_growth * max(self._trained_on, 1):
            return
        desc = np.concatenate([kf.desc for kf in keyframes]) if keyframes else np.zeros((0, 32), np.uint8)
        if len(desc) == 0:
            return
        self.vocabulary = Vocabulary(self.branching, self.depth, self.seed).train(desc)
        self._trained_on = n
        self._hist.clear()
        log.debug("bag-of-words vocabulary trained on %d keyframes (%d descriptors)", n, len(desc))

    def _histogram(self, desc: np.ndarray) -> np.ndarray:
        return np.bincount(self.vocabulary.words(desc), minlength=self.vocabulary.n_words).astype(np.float32)

    def query(self, m, desc: np.ndarray, n: int = 5, min_score: float = 0.0) -> list:
        """The keyframes most similar to a frame's descriptors.

        Parameters
        ----------
        m : Map
        desc : (N, 32) uint8
            The frame's ORB descriptors.
        n : int
            Number of keyframes returned.
        min_score : float
            Scores (L1 similarity of tf-idf vectors, in [0, 1]) below are dropped.

        Returns
        -------
        list of (score float, KeyFrame), best first (ties by keyframe id).
        """
        kfs = [kf for kf in m.keyframes if len(kf.desc)]
        if not kfs or len(desc) == 0:
            return []
        self._ensure_vocabulary(kfs)
        if not self.vocabulary.trained:
            return []
        live = {kf.id for kf in kfs}
        for kid in [k for k in self._hist if k not in live]:
            del self._hist[kid]
        for kf in kfs:
            if kf.id not in self._hist:
                self._hist[kf.id] = self._histogram(kf.desc)
        H = np.stack([self._hist[kf.id] for kf in kfs])                     # (K, W) term counts
        df = (H > 0).sum(0)
        idf = np.log(len(kfs) / np.maximum(df, 1)).astype(np.float32)
        V = H * idf
        V /= np.maximum(V.sum(1, keepdims=True), 1e-12)
        q = self._histogram(desc) * idf
        q /= max(float(q.sum()), 1e-12)
        scores = 1.0 - 0.5 * np.abs(V - q[None, :]).sum(1)
        order = sorted(range(len(kfs)), key=lambda i: (-scores[i], kfs[i].id))
        return [(float(scores[i]), kfs[i]) for i in order[:n] if scores[i] > min_score]
