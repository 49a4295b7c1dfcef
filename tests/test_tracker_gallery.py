"""LongTermGallery: bounded memory, frame ranges, search, lost identities, and its file."""
import numpy as np
import pytest

from tracker import GalleryFileError, LongTermGallery

CHAIR, TABLE = 5, 7


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def noisy(feature, rng, scale=0.15):
    return unit(feature + rng.normal(scale=scale / np.sqrt(feature.size), size=feature.size))


def test_memory_per_identity_is_bounded(rng):
    gallery = LongTermGallery(feature_budget=32, max_frame_ranges=8, world_history=5)
    look = unit(rng.normal(size=16))
    for frame in range(0, 2000, 2):                       # every other frame: a new range each time
        gallery.add(7, CHAIR, noisy(look, rng), world_position=[1.0, 2.0, 3.0], frame_index=frame)
    assert gallery.features(7).shape == (32, 16)
    frames = gallery.frames(7)
    assert len(frames) <= 8
    assert frames[0].first == 0 and frames[-1].last == 1998 and {r.visit for r in frames} == {1}
    covered = {t for _, first, last in frames for t in range(first, last + 1)}
    assert set(range(0, 2000, 2)) <= covered
    assert gallery.entry(7).n_observations == 1000
    np.testing.assert_allclose(gallery.world_position(7), [1.0, 2.0, 3.0])


def test_contiguous_frames_make_one_range():
    gallery = LongTermGallery()
    for frame in list(range(10, 20)) + list(range(150, 160)):
        gallery.add(3, CHAIR, frame_index=frame)
    assert gallery.frames(3) == [(1, 10, 19), (1, 150, 159)]


def test_frame_ranges_merge_at_their_bound_in_order_seen():
    gallery = LongTermGallery(max_frame_ranges=3)
    for frame in [0, 1, 2, 10, 11, 30, 31, 32, 33, 100, 200]:
        gallery.add(3, CHAIR, frame_index=frame)
    # at 100: (0, 2) (10, 11) (30, 33) (100, 100), the closest two merge into (0, 11); at 200 again
    assert gallery.frames(3) == [(1, 0, 33), (1, 100, 100), (1, 200, 200)]
    gallery.add(3, CHAIR, frame_index=201)                                # extends the latest range
    assert gallery.frames(3) == [(1, 0, 33), (1, 100, 100), (1, 200, 201)] and gallery.entry(3).n_observations == 12
    gallery.add(3, CHAIR, frame_index=50)                                 # an earlier frame: a new range
    assert gallery.frames(3) == [(1, 0, 100), (1, 200, 201), (1, 50, 50)]


def test_lost_identities_are_those_out_of_sight(rng):
    from tracker import Detection, TrackState
    gallery = LongTermGallery()
    for i in (1, 2, 3):
        gallery.add(i, CHAIR, unit(rng.normal(size=8)), frame_index=0)
    gallery.add(4, CHAIR, frame_index=0)                                  # no feature: nothing to compare
    gallery.tracks[2].activate(Detection([0, 0, 10, 10], label=CHAIR), 5)   # back in sight
    assert gallery.tracks[2].state == TrackState.Confirmed and gallery.tracks[2].from_gallery
    assert [t.track_id for t in gallery.lost()] == [1, 3]


def test_query_answers_where_it_was_seen(rng):
    gallery = LongTermGallery()
    looks = [unit(rng.normal(size=32)) for _ in range(5)]
    for i, look in enumerate(looks, start=1):
        for frame in range(10 * i, 10 * i + 5):
            gallery.add(i, CHAIR if i < 4 else TABLE, noisy(look, rng), world_position=[i, i, 0.5],
                        frame_index=frame)
    results = gallery.query(noisy(looks[3], rng), k=3)
    assert [r.track_id for r in results][0] == 4
    assert len(results) == 3 and results[0].distance < results[1].distance <= results[2].distance
    assert results[0].frames == [(1, 40, 44)] and results[0].first_seen == (1, 40) and results[0].last_seen == (1, 44)
    np.testing.assert_allclose(results[0].world_position, [4, 4, 0.5])
    assert {r.label for r in gallery.query(looks[0], label=TABLE, k=5)} == {TABLE}
    assert len(gallery.query(looks[0], label=TABLE, k=5)) == 2


def test_save_and_load_round_trip(rng, tmp_path):
    gallery = LongTermGallery(feature_budget=4)
    looks = [unit(rng.normal(size=32)) for _ in range(3)]
    for frame in range(12):
        for i, look in enumerate(looks, start=1):
            gallery.add(i, CHAIR, noisy(look, rng), world_position=[i, 0.0, float(frame % 3)], frame_index=frame)
    gallery.add(9, TABLE, frame_index=3)                      # an identity without feature or position
    path = gallery.save(tmp_path / "sub" / "gallery.npz")
    assert sorted(p.name for p in path.parent.iterdir()) == ["gallery.npz"]
    loaded = LongTermGallery.load(path)
    assert loaded.ids.tolist() == gallery.ids.tolist() and loaded.feature_budget == 4
    for i in (1, 2, 3, 9):
        assert loaded.frames(i) == gallery.frames(i)
        np.testing.assert_array_equal(loaded.features(i), gallery.features(i))
        assert loaded.label_of(i) == gallery.label_of(i)
        assert (loaded.world_position(i) is None) == (gallery.world_position(i) is None)
    np.testing.assert_allclose(loaded.world_position(2), [2.0, 0.0, 1.0])
    query = noisy(looks[1], rng)
    assert [(r.track_id, round(r.distance, 6)) for r in loaded.query(query)] == \
           [(r.track_id, round(r.distance, 6)) for r in gallery.query(query)]
    # loaded galleries keep learning, in the same ring positions
    loaded.add(2, CHAIR, looks[1], frame_index=20)
    gallery.add(2, CHAIR, looks[1], frame_index=20)
    np.testing.assert_array_equal(loaded.features(2), gallery.features(2))
    assert loaded.frames(2) == [(1, 0, 11), (1, 20, 20)]


def test_save_replaces_an_existing_file_atomically(rng, tmp_path):
    path = tmp_path / "gallery.npz"
    first = LongTermGallery()
    first.add(1, CHAIR, unit(rng.normal(size=8)))
    first.save(path)
    second = LongTermGallery()
    second.add(5, TABLE, unit(rng.normal(size=8)))
    second.add(6, TABLE, unit(rng.normal(size=8)))
    second.save(path)
    assert LongTermGallery.load(path).ids.tolist() == [5, 6]
    assert [p.name for p in tmp_path.iterdir()] == ["gallery.npz"]


def test_loading_a_bad_file_names_it(tmp_path, rng):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip file")
    with pytest.raises(GalleryFileError, match="garbage.npz"):
        LongTermGallery.load(garbage)

    gallery = LongTermGallery()
    gallery.add(1, CHAIR, unit(rng.normal(size=8)))
    good = gallery.save(tmp_path / "good.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(GalleryFileError, match="truncated.npz"):
        LongTermGallery.load(truncated)

    other = tmp_path / "other.npz"
    np.savez(other, something=np.zeros(3))
    with pytest.raises(GalleryFileError, match="other.npz"):
        LongTermGallery.load(other)

    with pytest.raises(FileNotFoundError, match="missing.npz"):
        LongTermGallery.load(tmp_path / "missing.npz")


def test_faiss_requested_without_faiss_falls_back_to_exact_search(rng, monkeypatch, caplog):
    import builtins
    real_import = builtins.__import__

    def no_faiss(name, *args, **kwargs):
        if name == "faiss":
            raise ImportError("no faiss here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_faiss)
    gallery = LongTermGallery(index="faiss")
    assert "faiss" in caplog.text
    look = unit(rng.normal(size=8))
    gallery.add(1, CHAIR, look)
    assert gallery.lost(look[None])[0].track_id == 1 and gallery.query(look)[0].track_id == 1


class FakeFaiss:
    """Just enough of faiss's IndexFlatIP, in numpy, to exercise the gallery's faiss path."""

    class IndexFlatIP:
        def __init__(self, dim):
            self.vectors = np.zeros((0, dim), np.float32)

        def add(self, vectors):
            self.vectors = np.concatenate([self.vectors, vectors])

        def search(self, queries, k):
            scores = queries @ self.vectors.T
            order = np.argsort(-scores, axis=1)[:, :k]
            return np.take_along_axis(scores, order, axis=1), order


def test_faiss_preselection_finds_the_same_identity(rng, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "faiss", FakeFaiss)
    gallery = LongTermGallery(index="faiss", faiss_candidates=4)
    looks = [unit(rng.normal(size=16)) for _ in range(30)]
    for i, look in enumerate(looks):
        gallery.add(i + 1, CHAIR, look)
    for i in (0, 17, 29):
        candidates = [t.track_id for t in gallery.lost(noisy(looks[i], rng)[None])]
        assert i + 1 in candidates and len(candidates) == 4
    assert len(gallery.lost()) == 30                          # no query: every lost identity


def test_real_faiss_index_preselects_the_closest_lost_identities(rng):
    pytest.importorskip("faiss")
    gallery = LongTermGallery(feature_budget=4, index="faiss", faiss_candidates=16)
    looks = [unit(rng.normal(size=32)) for _ in range(300)]
    for i, look in enumerate(looks):
        for _ in range(3):
            gallery.add(i + 1, CHAIR if i % 2 else TABLE, noisy(look, rng))
    assert gallery.faiss is not None                          # the real package, not the fallback
    for i in (0, 1, 150, 299):
        query = noisy(looks[i], rng)
        candidates = gallery.lost(query[None])
        assert len(candidates) == 16 and i + 1 in [t.track_id for t in candidates]
        assert gallery.query(query, k=1)[0].track_id == i + 1


def test_a_faiss_gallery_can_be_copied_and_pickled(rng):
    import copy
    import pickle
    pytest.importorskip("faiss")
    gallery = LongTermGallery(index="faiss", faiss_candidates=2)
    looks = [unit(rng.normal(size=8)) for _ in range(5)]
    for i, look in enumerate(looks):
        gallery.add(i + 1, CHAIR, look)
    for twin in (copy.deepcopy(gallery), pickle.loads(pickle.dumps(gallery))):
        assert twin.faiss is not None and 4 in [t.track_id for t in twin.lost(looks[3][None])]
        twin.add(9, CHAIR, looks[0])
        assert 9 not in gallery


def test_each_tracker_run_is_a_visit_and_frame_ranges_say_which(rng, tmp_path):
    from tracker import Detection, Tracker, TrackerConfig
    look = unit(rng.normal(size=16))

    def visit(gallery, frames):
        tracker = Tracker(TrackerConfig(n_init=1), gallery)
        for t in frames:
            tracker.update([Detection([100, 100, 40, 40], label=CHAIR, feature=noisy(look, rng),
                                      world_position=[1.0, 2.0, 0.5])], t)
        return tracker

    today = visit(None, range(0, 5))
    tomorrow = visit(LongTermGallery.load(today.gallery.save(tmp_path / "today.npz")), range(0, 3))
    assert (today.visit, tomorrow.visit) == (1, 2) and tomorrow.reactivations == 1
    # frames 0-2 of the second visit are not frames 0-2 of the first
    assert tomorrow.gallery.frames(1) == [(1, 0, 4), (2, 0, 2)]
    assert tomorrow.gallery.entry(1).last_seen == (2, 2) and tomorrow.gallery.entry(1).n_observations == 8
    again = LongTermGallery.load(tomorrow.gallery.save(tmp_path / "tomorrow.npz"))
    assert again.visits == 2 and again.frames(1) == tomorrow.gallery.frames(1)
    assert visit(again, [0]).visit == 3


def test_a_gallery_file_of_format_1_is_read_as_one_visit(rng, tmp_path):
    gallery = LongTermGallery()
    for frame in (3, 4, 9):
        gallery.add(5, CHAIR, unit(rng.normal(size=8)), frame_index=frame)
    with np.load(gallery.save(tmp_path / "new.npz")) as data:
        arrays = {key: data[key] for key in data.files if key != "visits"}
    arrays["format_version"], arrays["ranges"] = np.int64(1), arrays["ranges"][:, 1:]      # as version 1 wrote it
    np.savez_compressed(tmp_path / "old.npz", **arrays)
    old = LongTermGallery.load(tmp_path / "old.npz")
    assert old.visits == 1 and old.frames(5) == [(1, 3, 4), (1, 9, 9)]
