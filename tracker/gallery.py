"""Long-term gallery: every identity the tracker has confirmed, in sight or lost, and what it knows of it.

The gallery holds the tracks themselves (:class:`tracker.track.Track`): a lost track is an identity
out of sight, which the tracker re-activates when a detection matches it by the same rule as a live
track (:func:`tracker.matching.association_cost`). It answers "where did I see it?"
(:meth:`LongTermGallery.query`: the closest identities with the frames they were seen in and their
world position) and is saved to and loaded from one ``.npz`` file, to continue a room on a later visit.
"""
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, NamedTuple, Optional

import numpy as np

from reid.fileio import atomic_output

from .track import Track, TrackState

log = logging.getLogger("tracker")

FORMAT_VERSION = 2
"""Version written: 2 records each frame range's visit; version 1 files (one visit) are read too."""
READABLE_VERSIONS = (1, 2)


class FrameRange(NamedTuple):
    """Frames ``first`` to ``last`` (inclusive) of visit ``visit`` (the gallery's tracker runs,
    numbered from 1; each numbers its frames from its own start)."""
    visit: int
    first: int
    last: int

    def __str__(self):
        return f"{self.first}-{self.last}" if self.last != self.first else f"{self.first}"


class GalleryFileError(ValueError):
    """A gallery file that cannot be read; the message names the file."""


class GalleryModelError(GalleryFileError):
    """A gallery filled by another embedding model than the one given: its features and the new ones
    cannot be compared. The message names the file and both models."""


@dataclass(frozen=True)
class EmbeddingModelId:
    """The embedding model whose features fill a gallery.

    Attributes
    ----------
    name : str
        What it is called on the command line (``default``, ``variant:NAME`` or a checkpoint path).
    weights_sha256 : str
        SHA-256 of its weights (``reid.embedder.weights_sha256``): what decides whether two are the same.
    """

    name: str
    weights_sha256: str

    @classmethod
    def of(cls, embedder):
        """The id of a ``reid.embedder.Embedder`` (its ``name`` and ``weights_sha256``)."""
        return cls(str(embedder.name), str(embedder.weights_sha256))

    def __str__(self):
        return f"'{self.name}' (weights sha256 {self.weights_sha256[:12]})"


@dataclass
class GalleryResult:
    """One identity returned by :meth:`LongTermGallery.query` or :meth:`LongTermGallery.entry`.

    Attributes
    ----------
    track_id : int
    distance : float
        Cosine distance of the query to the identity's closest feature (NaN for :meth:`entry`).
    label : int
        NYU40 class id.
    world_position : ndarray (3,) metres, or None when never measured
    frames : list of FrameRange
        Inclusive frame ranges ``(visit, first, last)`` where the identity was seen, in the order
        seen; adjacent ranges of one visit are merged when the list reaches its bound.
    n_observations : int
        Number of frames in which the identity was observed.
    """

    track_id: int
    distance: float
    label: int
    world_position: Optional[np.ndarray]
    frames: List[FrameRange]
    n_observations: int

    @property
    def first_seen(self):
        """``(visit, frame)`` of the first sighting, or None."""
        return min((r.visit, r.first) for r in self.frames) if self.frames else None

    @property
    def last_seen(self):
        """``(visit, frame)`` of the latest sighting, or None."""
        return max((r.visit, r.last) for r in self.frames) if self.frames else None


class LongTermGallery:
    """Identities (tracks) by ID, with their class, recent features, world position and frames seen.

    Parameters
    ----------
    feature_budget : int
        Recent features kept per identity added with :meth:`add` (besides the running mean of all).
    world_history : int
        Recent world positions kept per such identity; its position is their median.
    max_frame_ranges : int
        Bound on the stored frame ranges per such identity; beyond it the two closest ranges merge.
    index : {"exact", "faiss"}
        How :meth:`lost` preselects lost identities for a search: all of them, or, beyond
        ``faiss_candidates`` of them, those whose mean feature a faiss inner-product index ranks among
        the ``faiss_candidates`` closest to a query (faiss is imported only then; without it the
        gallery warns and keeps all).
    faiss_candidates : int

    Attributes
    ----------
    tracks : dict of int -> Track
        Every identity, in the order added.
    model : EmbeddingModelId or None
        The embedding model that filled the gallery, when recorded (saved and loaded with it).
    visits : int
        Visits recorded: tracker runs that filled it (0 for a new gallery; see :meth:`begin_visit`).
    """

    def __init__(self, feature_budget=100, world_history=30, max_frame_ranges=64, index="exact", faiss_candidates=256):
        if feature_budget < 1 or max_frame_ranges < 1 or world_history < 1:
            raise ValueError("feature_budget, world_history and max_frame_ranges must be >= 1")
        if index not in ("exact", "faiss"):
            raise ValueError(f"index must be 'exact' or 'faiss', got {index!r}")
        self.feature_budget, self.world_history = int(feature_budget), int(world_history)
        self.max_frame_ranges, self.faiss_candidates = int(max_frame_ranges), int(faiss_candidates)
        self.faiss = None
        if index == "faiss":
            try:
                import faiss
                self.faiss = faiss
            except ImportError:
                log.warning("gallery: faiss requested but not installed, using exact search")
        self.tracks = {}
        self.model = None
        self.visits = 0

    def check_model(self, model, source="gallery"):
        """Refuse features of another embedding model; record ``model`` as the one filling the gallery.

        Raises :class:`GalleryModelError`, naming both, when the gallery records another model (other
        weights). A gallery without a recorded model (an older file) is accepted with a warning.
        """
        if self.model is None:
            if self.tracks:
                log.warning("%s: no embedding model recorded (an older gallery file); assuming %s filled it",
                            source, model)
        elif self.model.weights_sha256 != model.weights_sha256:
            raise GalleryModelError(f"{source}: filled by the embedding model {self.model}, not by {model}; "
                                    f"use the same model (--reid) as the run that wrote it")
        self.model = model

    def __getstate__(self):
        return dict(self.__dict__, faiss=self.faiss is not None)

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.faiss:
            import faiss
            self.faiss = faiss
        else:
            self.faiss = None

    # ------------------------------------------------------------------ identities
    def __len__(self):
        return len(self.tracks)

    def __contains__(self, track_id):
        return int(track_id) in self.tracks

    @property
    def ids(self):
        """Identities stored, (N,) int64, in the order added."""
        return np.array(list(self.tracks), dtype=np.int64)

    @property
    def max_id(self):
        """Largest stored identity, or 0 when empty."""
        return max(self.tracks, default=0)

    @property
    def feature_dim(self):
        """Length of the stored features, or None before the first."""
        return next((t.features.data.shape[1] for t in self.tracks.values() if t.features.data is not None), None)

    def begin_visit(self):
        """Start a new visit (a tracker run over this gallery) and return its number (1, 2, ...)."""
        self.visits += 1
        return self.visits

    def add_track(self, track):
        """Keep a (newly confirmed) track as an identity."""
        self.tracks[track.track_id] = track

    def add(self, track_id, label, feature=None, world_position=None, frame_index=None):
        """Record one observation of an identity, creating it (lost: out of sight) if new.

        Parameters
        ----------
        track_id, label : int
        feature : ndarray (D,), optional
            L2-normalised appearance feature.
        world_position : ndarray (3,), optional
            Metres.
        frame_index : int, optional
            A frame of the latest visit (adding to a gallery no tracker has filled begins visit 1).
        """
        self.visits = max(self.visits, 1)
        track = self.tracks.get(int(track_id))
        if track is None:
            track = self.tracks[int(track_id)] = Track(track_id, label, feature_budget=self.feature_budget,
                                                       world_history=self.world_history,
                                                       max_frame_ranges=self.max_frame_ranges)
        track.visit = self.visits
        track.observe(None if feature is None else np.asarray(feature, dtype=np.float32).reshape(-1),
                      None if world_position is None else np.asarray(world_position, dtype=np.float64).reshape(3),
                      frame_index)

    def lost(self, queries=None, labels=None):
        """The identities out of sight (lost) that a search for ``queries`` (QxD) should look at: all (of
        the classes ``labels``, when given), or the faiss preselection among them (see ``index``)."""
        lost = [t for t in self.tracks.values() if t.state == TrackState.Lost and t.feature_count
                and (labels is None or t.label in labels)]
        if self.faiss is None or queries is None or not len(queries) or len(lost) <= self.faiss_candidates:
            return lost
        index = self.faiss.IndexFlatIP(queries.shape[1])
        index.add(np.stack([t.mean_feature for t in lost]))
        _, found = index.search(np.ascontiguousarray(queries, dtype=np.float32), self.faiss_candidates)
        return [lost[i] for i in np.unique(found[found >= 0])]

    # ------------------------------------------------------------------ reading
    def label_of(self, track_id):
        return self.tracks[int(track_id)].label

    def world_position(self, track_id):
        """Median recent world position of an identity, (3,) metres, or None."""
        position = self.tracks[int(track_id)].world_position
        return None if position is None else position.copy()

    def features(self, track_id):
        """Stored recent features of an identity, KxD float32."""
        return self.tracks[int(track_id)].features.rows.copy()

    def mean_feature(self, track_id):
        """L2-normalised mean of all features of an identity, (D,), or None."""
        return self.tracks[int(track_id)].mean_feature

    def frames(self, track_id):
        """Frame ranges ``[FrameRange(visit, first, last), ...]`` where an identity was seen."""
        return [FrameRange(*r) for r in self.tracks[int(track_id)].frames]

    def entry(self, track_id):
        """Everything known about one identity, as a :class:`GalleryResult` (distance NaN)."""
        return self._result(self.tracks[int(track_id)], float("nan"))

    def _result(self, track, distance):
        return GalleryResult(track_id=track.track_id, distance=float(distance), label=track.label,
                             world_position=None if track.world_position is None else track.world_position.copy(),
                             frames=[FrameRange(*r) for r in track.frames], n_observations=track.n_observations)

    def query(self, feature, label=None, k=5):
        """Where did I see it? The ``k`` identities whose appearance is closest to ``feature``.

        Parameters
        ----------
        feature : ndarray (D,)
            Query feature from the same embedder as the gallery's (normalised here).
        label : int, optional
            Restrict to one class.
        k : int

        Returns
        -------
        list of GalleryResult
            Closest first (cosine distance to the closest stored feature or mean); identities without
            features are left out.
        """
        query = np.asarray(feature, dtype=np.float32).reshape(1, -1)
        query = query / np.linalg.norm(query)
        candidates = [t for t in self.tracks.values() if t.feature_count and (label is None or t.label == int(label))]
        distances = [float(t.appearance_distance(query)[0]) for t in candidates]
        order = np.argsort(distances, kind="stable")[:k]
        return [self._result(candidates[i], distances[i]) for i in order]

    # ------------------------------------------------------------------ files
    def save(self, path):
        """Write the gallery to one ``.npz`` file, atomically (temporary file + ``os.replace``)."""
        tracks = list(self.tracks.values())
        n, dim = len(tracks), self.feature_dim or 0
        bank_size = max([t.features.size for t in tracks] + [self.feature_budget])
        history = max([t.positions.size for t in tracks] + [self.world_history])
        bank = np.zeros((n, bank_size, dim), dtype=np.float32)
        positions = np.full((n, history, 3), np.nan)
        for row, track in enumerate(tracks):
            if track.features.data is not None:
                bank[row, :track.features.size] = track.features.data
            if track.positions.data is not None:
                positions[row, :track.positions.size] = track.positions.data
        ranges = [r for t in tracks for r in t.frames]
        arrays = {
            "format_version": np.int64(FORMAT_VERSION),
            "settings": np.array([bank_size, self.max_frame_ranges, history], dtype=np.int64),
            "ids": np.array([t.track_id for t in tracks], dtype=np.int64),
            "labels": np.array([t.label for t in tracks], dtype=np.int64), "bank": bank,
            "bank_count": np.array([t.features.count for t in tracks], dtype=np.int64),
            "bank_next": np.array([t.features.next for t in tracks], dtype=np.int64),
            "mean_sum": np.array([t.feature_sum if t.feature_count else np.zeros(dim) for t in tracks]).reshape(n, dim),
            "mean_count": np.array([t.feature_count for t in tracks], dtype=np.int64),
            "position_ring": positions, "position_count": np.array([t.positions.count for t in tracks], dtype=np.int64),
            "position_next": np.array([t.positions.next for t in tracks], dtype=np.int64),
            "n_observations": np.array([t.n_observations for t in tracks], dtype=np.int64),
            "range_offsets": np.cumsum([0] + [len(t.frames) for t in tracks]).astype(np.int64),
            "ranges": np.array(ranges, dtype=np.int64).reshape(-1, 3), "feature_dim": np.int64(dim),
            "visits": np.int64(self.visits),
        }
        if self.model is not None:
            arrays["model_name"] = np.array(self.model.name)
            arrays["model_weights_sha256"] = np.array(self.model.weights_sha256)
        with atomic_output(Path(path), "wb") as handle:
            np.savez_compressed(handle, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path, **overrides):
        """Read a gallery written by :meth:`save`; ``overrides``: constructor arguments (e.g. ``index``).

        Raises FileNotFoundError (no such file) or :class:`GalleryFileError` naming the file (not a
        readable gallery, another format version).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: gallery file not found")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise GalleryFileError(f"{path}: not a gallery file ({error})") from error
        version = int(arrays["format_version"]) if arrays.get("format_version", np.zeros(0)).size == 1 else None
        if version is None:
            raise GalleryFileError(f"{path}: not a gallery file (no format version)")
        if version not in READABLE_VERSIONS:
            raise GalleryFileError(f"{path}: gallery file format version {version}; this version of the tracker "
                                   f"reads versions {', '.join(map(str, READABLE_VERSIONS))}")
        try:
            return cls._from_arrays(arrays, overrides, version)
        except (KeyError, ValueError, IndexError, TypeError) as error:
            raise GalleryFileError(f"{path}: corrupt or incompatible gallery file ({error!r})") from error

    @classmethod
    def _from_arrays(cls, arrays, overrides, version):
        bank_size, max_frame_ranges, history = (int(v) for v in arrays["settings"])
        gallery = cls(**dict(dict(feature_budget=bank_size, world_history=history, max_frame_ranges=max_frame_ranges),
                             **overrides))
        n, dim = len(arrays["ids"]), int(arrays["feature_dim"])
        expected = {"labels": (n,), "bank": (n, bank_size, dim), "bank_count": (n,), "bank_next": (n,),
                    "mean_sum": (n, dim), "mean_count": (n,), "position_ring": (n, history, 3),
                    "position_count": (n,), "position_next": (n,), "n_observations": (n,), "range_offsets": (n + 1,)}
        for key, shape in expected.items():
            if arrays[key].shape != shape:
                raise ValueError(f"{key} has shape {arrays[key].shape}, expected {shape}")
        if len(set(arrays["ids"].tolist())) != n:
            raise ValueError("duplicate identities")
        if version == 1:       # one visit, ranges (first, last)
            ranges = arrays["ranges"].reshape(-1, 2)
            ranges = np.concatenate([np.ones((len(ranges), 1), np.int64), ranges], axis=1)
            gallery.visits = 1 if n else 0
        else:
            ranges = arrays["ranges"].reshape(-1, 3)
            gallery.visits = int(arrays["visits"])
        offsets = arrays["range_offsets"]
        for row in range(n):
            track = Track(arrays["ids"][row], arrays["labels"][row], feature_budget=bank_size, world_history=history,
                          max_frame_ranges=max_frame_ranges)
            if arrays["mean_count"][row] and dim:
                track.features.data = arrays["bank"][row].copy()
                track.features.count, track.features.next = int(arrays["bank_count"][row]), int(arrays["bank_next"][row])
                track.feature_sum, track.feature_count = arrays["mean_sum"][row].copy(), int(arrays["mean_count"][row])
            if arrays["position_count"][row]:
                track.positions.data = arrays["position_ring"][row].copy()
                track.positions.count = int(arrays["position_count"][row])
                track.positions.next = int(arrays["position_next"][row])
            track.frames = ranges[offsets[row]:offsets[row + 1]].tolist()
            track.n_observations = int(arrays["n_observations"][row])
            gallery.tracks[track.track_id] = track
        if "model_weights_sha256" in arrays:
            gallery.model = EmbeddingModelId(str(arrays["model_name"].item()), str(arrays["model_weights_sha256"].item()))
        return gallery
