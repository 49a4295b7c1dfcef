"""LongTermGallery: matching rules, bounded memory, search, and its file."""
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


def test_match_requires_the_same_class_and_respects_exclusions(rng):
    gallery = LongTermGallery()
    look = unit(rng.normal(size=32))
    gallery.add(1, CHAIR, look, frame_index=0)
    gallery.add(2, TABLE, look, frame_index=0)
    assert gallery.match(noisy(look, rng), CHAIR)[0] == 1
    assert gallery.match(noisy(look, rng), TABLE)[0] == 2
    assert gallery.match(noisy(look, rng), 11) is None
    assert gallery.match(noisy(look, rng), CHAIR, exclude_ids={1}) is None
    other = unit(rng.normal(size=32))
    assert gallery.match(other, CHAIR) is None               # looks nothing like it


def test_world_position_gates_and_breaks_ties_between_twins(rng):
    gallery = LongTermGallery(world_gate_metres=0.5)
    look = unit(rng.normal(size=32))
    gallery.add(1, CHAIR, look, world_position=[0.0, 0.0, 0.5])
    gallery.add(2, CHAIR, look, world_position=[2.0, 0.0, 0.5])
    query = noisy(look, rng)
    assert gallery.match(query, CHAIR, world_position=[1.9, 0.1, 0.5])[0] == 2
    assert gallery.match(query, CHAIR, world_position=[0.1, 0.0, 0.5])[0] == 1
    # a known position far from both: never a match, however alike
    assert gallery.match(look, CHAIR, world_position=[1.0, 3.0, 0.5]) is None
    # position unknown: appearance alone decides (either twin)
    assert gallery.match(query, CHAIR)[0] in (1, 2)
    # no feature: only the world position can match, and only within the gate
    assert gallery.match(None, CHAIR, world_position=[2.1, 0.0, 0.5])[0] == 2
    assert gallery.match(None, CHAIR) is None


def test_assign_is_one_to_one(rng):
    gallery = LongTermGallery()
    look = unit(rng.normal(size=32))
    gallery.add(1, CHAIR, look)
    result = gallery.assign([noisy(look, rng), noisy(look, rng)], [CHAIR, CHAIR])
    assert sorted(r is None for r in result) == [False, True]


def test_memory_per_identity_is_bounded(rng):
    gallery = LongTermGallery(bank_size=32, max_frame_ranges=8, position_history=5)
    look = unit(rng.normal(size=16))
    for frame in range(0, 2000, 2):                       # every other frame: a new range each time
        gallery.add(7, CHAIR, noisy(look, rng), world_position=[1.0, 2.0, 3.0], frame_index=frame)
    assert gallery.features(7).shape == (32, 16)
    frames = gallery.frames(7)
    assert len(frames) <= 8
    assert frames[0][0] == 0 and frames[-1][1] == 1998
    covered = {t for first, last in frames for t in range(first, last + 1)}
    assert set(range(0, 2000, 2)) <= covered
    assert gallery.entry(7).n_observations == 1000
    np.testing.assert_allclose(gallery.world_position(7), [1.0, 2.0, 3.0])


def test_contiguous_frames_make_one_range():
    gallery = LongTermGallery()
    for frame in list(range(10, 20)) + list(range(150, 160)):
        gallery.add(3, CHAIR, frame_index=frame)
    assert gallery.frames(3) == [(10, 19), (150, 159)]


def test_frame_ranges_merge_at_their_bound_in_order_seen():
    gallery = LongTermGallery(max_frame_ranges=3)
    for frame in [0, 1, 2, 10, 11, 30, 31, 32, 33, 100, 200]:
        gallery.add(3, CHAIR, frame_index=frame)
    # at 100: (0, 2) (10, 11) (30, 33) (100, 100), the closest two merge into (0, 11); at 200 again
    assert gallery.frames(3) == [(0, 33), (100, 100), (200, 200)]
    gallery.add_many([3], [CHAIR], [None], [None], np.array([201]))       # extends the latest range
    assert gallery.frames(3) == [(0, 33), (100, 100), (200, 201)] and gallery.entry(3).n_observations == 12
    gallery.add(3, CHAIR, frame_index=50)                                 # an earlier frame: a new range
    assert gallery.frames(3) == [(0, 100), (200, 201), (50, 50)]


def test_appearance_is_searched_only_where_class_and_world_gates_leave_a_chance(rng, monkeypatch):
    gallery = LongTermGallery(world_gate_metres=1.0)
    look = unit(rng.normal(size=32))
    gallery.add(1, CHAIR, noisy(look, rng), world_position=[0.0, 0.0, 0.0])       # near
    gallery.add(2, CHAIR, noisy(look, rng), world_position=[5.0, 0.0, 0.0])       # far: world-gated
    gallery.add(3, TABLE, noisy(look, rng), world_position=[0.2, 0.0, 0.0])       # another class
    gallery.add(4, CHAIR, noisy(look, rng))                                       # position unknown
    searched = []
    search = LongTermGallery.appearance_distances

    def spy(self, queries, rows=None):
        searched.append(sorted(self._ids[np.arange(self.size) if rows is None else rows].tolist()))
        return search(self, queries, rows)

    monkeypatch.setattr(LongTermGallery, "appearance_distances", spy)
    ids, cost = gallery.cost_matrix([noisy(look, rng)], [CHAIR], [np.array([0.3, 0.0, 0.0])])
    assert searched == [[1, 4]]
    assert ids.tolist() == [1, 2, 4] and cost[0, 1] >= 1e5 and max(cost[0, 0], cost[0, 2]) < 1.0


def test_storage_grows_past_its_initial_capacity(rng):
    gallery = LongTermGallery(initial_capacity=2)
    looks = {i: unit(rng.normal(size=24)) for i in range(1, 41)}
    for i, look in looks.items():
        gallery.add(i, CHAIR if i % 2 else TABLE, look, world_position=[i, 0.0, 0.0], frame_index=i)
    assert len(gallery) == 40 and gallery.capacity >= 40
    for i, look in looks.items():
        assert gallery.match(noisy(look, rng), CHAIR if i % 2 else TABLE, world_position=[i, 0.1, 0.0])[0] == i
        assert gallery.frames(i) == [(i, i)]


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
    assert results[0].frames == [(40, 44)] and results[0].first_frame == 40 and results[0].last_frame == 44
    np.testing.assert_allclose(results[0].world_position, [4, 4, 0.5])
    assert {r.label for r in gallery.query(looks[0], label=TABLE, k=5)} == {TABLE}
    assert len(gallery.query(looks[0], label=TABLE, k=5)) == 2


def test_save_and_load_round_trip(rng, tmp_path):
    gallery = LongTermGallery(bank_size=4)
    looks = [unit(rng.normal(size=32)) for _ in range(3)]
    for frame in range(12):
        for i, look in enumerate(looks, start=1):
            gallery.add(i, CHAIR, noisy(look, rng), world_position=[i, 0.0, float(frame % 3)], frame_index=frame)
    gallery.add(9, TABLE, frame_index=3)                      # an identity without feature or position
    path = gallery.save(tmp_path / "sub" / "gallery.npz")
    assert sorted(p.name for p in path.parent.iterdir()) == ["gallery.npz"]
    loaded = LongTermGallery.load(path)
    assert loaded.ids.tolist() == gallery.ids.tolist() and loaded.bank_size == 4
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
    assert loaded.frames(2) == [(0, 11), (20, 20)]


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
    assert gallery.match(look, CHAIR)[0] == 1


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
        assert gallery.match(noisy(looks[i], rng), CHAIR)[0] == i + 1
        assert gallery.query(noisy(looks[i], rng), k=1)[0].track_id == i + 1


def test_add_many_equals_adding_one_by_one():
    rng = np.random.default_rng(3)
    one, many = LongTermGallery(bank_size=4, position_history=3), LongTermGallery(bank_size=4, position_history=3)
    for frame in range(12):
        ids = [1, 2, 3, 1] if frame % 3 == 0 else [2, 3, 4]          # repeated id within one call too
        features = [None if (frame + i) % 5 == 0 else rng.standard_normal(8) for i in range(len(ids))]
        features = [None if f is None else (f / np.linalg.norm(f)).astype(np.float32) for f in features]
        positions = [None if i == 1 else rng.uniform(0, 3, 3) for i in range(len(ids))]
        labels = [5] * len(ids)
        for args in zip(ids, labels, features, positions, [frame] * len(ids)):
            one.add(*args)
        many.add_many(ids, labels, features, positions, [frame] * len(ids))
    assert list(one.ids) == list(many.ids)
    for track_id in one.ids:
        np.testing.assert_array_equal(one.features(track_id), many.features(track_id))
        np.testing.assert_allclose(one.mean_feature(track_id), many.mean_feature(track_id), rtol=1e-6)
        np.testing.assert_array_equal(one.world_position(track_id), many.world_position(track_id))
        assert one.frames(track_id) == many.frames(track_id)


def test_real_faiss_index_agrees_with_exact_search(rng):
    pytest.importorskip("faiss")
    exact = LongTermGallery(bank_size=4)
    approximate = LongTermGallery(bank_size=4, index="faiss", faiss_candidates=16)
    looks = [unit(rng.normal(size=32)) for _ in range(300)]
    for i, look in enumerate(looks):
        for gallery in (exact, approximate):
            for _ in range(3):
                gallery.add(i + 1, CHAIR if i % 2 else TABLE, noisy(look, rng))
    assert approximate._faiss is not None                     # the real package, not the fallback
    for i in (0, 1, 150, 299):
        label = CHAIR if i % 2 else TABLE
        query = noisy(looks[i], rng)
        assert approximate.match(query, label)[0] == exact.match(query, label)[0] == i + 1
        assert approximate.query(query, k=1)[0].track_id == i + 1


def test_a_faiss_gallery_can_be_copied_and_pickled(rng):
    import copy
    import pickle
    pytest.importorskip("faiss")
    gallery = LongTermGallery(index="faiss", faiss_candidates=2)
    looks = [unit(rng.normal(size=8)) for _ in range(5)]
    for i, look in enumerate(looks):
        gallery.add(i + 1, CHAIR, look)
    assert gallery.match(looks[3], CHAIR)[0] == 4
    for twin in (copy.deepcopy(gallery), pickle.loads(pickle.dumps(gallery))):
        assert twin._faiss is not None and twin.match(looks[3], CHAIR)[0] == 4
        twin.add(9, CHAIR, looks[0])
        assert 9 not in gallery


def test_unplaced_gate_asks_more_of_appearance_when_no_world_distance_vouches():
    from tracker.gallery import LongTermGallery
    gallery = LongTermGallery(bank_size=4)
    stored = np.zeros(8, dtype=np.float32)
    stored[0] = 1.0
    gallery.add(7, 5, stored, np.array([1.0, 2.0, 3.0]), 0)
    query = np.zeros(8, dtype=np.float32)
    query[:2] = [0.75, np.sqrt(1 - 0.75 ** 2)]                  # cosine distance 0.25 to the stored feature
    # no position: the tighter gate applies
    assert gallery.match(query, 5, None, max_distance=0.3) is not None
    assert gallery.match(query, 5, None, max_distance=0.3, unplaced_max_distance=0.2) is None
    # a known position within the world gate vouches for the pair: the stage's own gate applies
    found = gallery.match(query, 5, np.array([1.1, 2.0, 3.0]), max_distance=0.3, unplaced_max_distance=0.2)
    assert found is not None and found[0] == 7
    # an unplaced gate looser than the stage's gate changes nothing
    assert gallery.match(query, 5, None, max_distance=0.2, unplaced_max_distance=0.5) is None


def test_gates_per_query_let_a_placed_cut_view_match_world_first(rng):
    gallery = LongTermGallery(world_gate_metres=1.5)
    look = unit(rng.normal(size=32))
    other = unit(rng.normal(size=32))
    lower, upper = unit(0.5 * look + 0.87 * other), noisy(look, rng, 0.05)   # stacked twins, one bank far off
    gallery.add(10, CHAIR, lower, world_position=[1.8, -2.7, 0.25])
    gallery.add(8, CHAIR, upper, world_position=[1.8, -2.7, 0.60])
    query, where = noisy(look, rng, 0.05), np.array([1.75, -2.7, 0.18])  # looks like the upper one
    far_gate = float(1 - query @ lower) + 0.01                            # admits the lower one too
    ids, cost = gallery.cost_matrix([query, query], [CHAIR, CHAIR], [where, where],
                                    max_distance=[0.3, far_gate], world_weight=[0.5, 3.0])
    normal, world_first = dict(zip(ids.tolist(), cost[0])), dict(zip(ids.tolist(), cost[1]))
    assert normal[10] >= 1e5 and normal[8] < 1.0                          # appearance alone: the twin
    assert world_first[10] < world_first[8]                               # world first: the right one
    # one gate for all queries is the same as that gate given per query
    _, scalar = gallery.cost_matrix([query, query], [CHAIR, CHAIR], [where, where], max_distance=0.3,
                                    world_weight=0.5)
    np.testing.assert_array_equal(scalar, cost[[0, 0]])


def test_faiss_preselection_spends_no_place_on_excluded_identities(rng):
    pytest.importorskip("faiss")
    gallery = LongTermGallery(bank_size=2, index="faiss", faiss_candidates=2)
    query = unit(rng.normal(size=16))
    near = [unit(query + 0.05 * k * rng.normal(size=16)) for k in (1, 2, 3)]        # identities 1, 2, 3
    far = [unit(rng.normal(size=16)) for _ in range(4)]                              # identities 4-7
    for track_id, look in enumerate(near + far, start=1):
        gallery.add(track_id, CHAIR, look)
    assert gallery._faiss is not None
    assert gallery.match(query, CHAIR)[0] == 1
    # the two closest are live: the preselection still holds two identities, and the third is found
    assert gallery.match(query, CHAIR, exclude_ids=[1, 2])[0] == 3
    rows = gallery._candidate_rows(query[None].astype(np.float32), [0, 1]).tolist()
    assert len(rows) == 2 and 2 in rows and not {0, 1} & set(rows)
