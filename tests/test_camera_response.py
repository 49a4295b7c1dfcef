"""The simulated auto-exposure / auto-white-balance camera of the generator."""
import numpy as np
import pytest

from reid.data.camera_response import GAMMA, AutoExposure


def linear_mean(rgb):
    return ((rgb.astype(np.float64) / 255.0) ** GAMMA).reshape(-1, 3).mean(axis=0)


def test_a_dark_frame_is_brightened_and_a_bright_one_darkened_towards_the_target():
    dark = np.full((8, 8, 3), 40, np.uint8)
    bright = np.full((8, 8, 3), 230, np.uint8)
    for frame in (dark, bright):
        out = AutoExposure(strength=1.0, rate=1.0, max_stops=6)(frame)
        assert linear_mean(out)[1] == pytest.approx(0.18, rel=0.05)
    weaker = AutoExposure(strength=0.5, rate=1.0)(dark)
    assert dark[0, 0, 1] < weaker[0, 0, 1] < AutoExposure(strength=1.0, rate=1.0)(dark)[0, 0, 1]


def test_grey_world_balance_removes_part_of_a_colour_cast():
    cast = np.zeros((8, 8, 3), np.uint8)
    cast[..., 0], cast[..., 1], cast[..., 2] = 160, 110, 80
    out = AutoExposure(rate=1.0, strength=0.8)(cast)
    before, after = linear_mean(cast), linear_mean(out)
    assert after[0] / after[2] < before[0] / before[2] and after[0] / after[2] > 1   # reduced, not removed


def test_gains_adapt_over_frames_at_the_given_rate():
    camera = AutoExposure(rate=0.25, strength=1.0, max_stops=6)
    dark = np.full((4, 4, 3), 30, np.uint8)
    bright = np.full((4, 4, 3), 200, np.uint8)
    camera(dark)
    start = np.log2(camera.gains)
    camera(bright)
    wanted = np.log2(0.18 / (((200 / 255) ** GAMMA) + 1e-4))
    np.testing.assert_allclose(np.log2(camera.gains), start + 0.25 * (wanted - start), rtol=1e-4)
    for _ in range(60):
        camera(bright)
    np.testing.assert_allclose(np.log2(camera.gains), wanted, atol=1e-3)
    camera.reset()
    assert camera.gains is None


def test_the_same_object_changes_colour_with_what_surrounds_it():
    camera = AutoExposure(rate=1.0)
    patch = (slice(2, 4), slice(2, 4))
    on_white = np.full((6, 6, 3), 235, np.uint8)
    on_black = np.full((6, 6, 3), 20, np.uint8)
    on_white[patch] = on_black[patch] = (120, 90, 60)
    a = camera(on_white)[patch]
    camera.reset()
    b = camera(on_black)[patch]
    assert (b.astype(int) - a.astype(int)).min() > 20      # the object reads brighter on a dark view


def test_bad_settings_and_images_are_refused():
    for kwargs in (dict(rate=0), dict(rate=1.5), dict(strength=-0.1), dict(target=0)):
        with pytest.raises(ValueError):
            AutoExposure(**kwargs)
    with pytest.raises(ValueError, match="uint8"):
        AutoExposure()(np.zeros((4, 4, 3), np.float32))


def test_generated_scene_with_auto_exposure_keeps_geometry_and_changes_colour(tmp_path):
    import json
    from reid.data.generate import generate_scene
    from reid.data.scannet import ScanNetScene
    for name in ("fixed", "auto"):
        generate_scene(tmp_path / name, index=0, seed=5, frames=12, size=(64, 48), camera_response=name)
    fixed = ScanNetScene(tmp_path / "fixed" / "scans" / "scene0000_00")
    auto = ScanNetScene(tmp_path / "auto" / "scans" / "scene0000_00")
    assert json.loads((auto.path / "meta.json").read_text())["camera_response"]["model"] == "auto-exposure"
    assert json.loads((fixed.path / "meta.json").read_text())["camera_response"] == {"model": "fixed"}
    changed = 0
    for index in fixed.frame_ids:
        a, b = fixed.read_frame(index), auto.read_frame(index)
        np.testing.assert_array_equal(a.instance, b.instance)
        np.testing.assert_array_equal(a.depth, b.depth)
        changed += np.abs(a.rgb.astype(int) - b.rgb.astype(int)).mean() > 2
    assert changed >= len(fixed.frame_ids) // 2


def test_lookup_tables_give_the_direct_formula_bit_for_bit():
    """The camera applies its gains through per-channel 256-entry tables; the result must be the
    direct per-pixel formula's, byte for byte, frame after frame (the adaptation state included)."""
    def direct(camera, rgb):
        linear = (rgb.astype(np.float32) / 255.0) ** GAMMA
        means = linear.reshape(-1, 3).mean(axis=0) + 1e-4
        luminance = float(means @ np.array([0.2126, 0.7152, 0.0722], np.float32))
        exposure = np.clip(camera.strength * np.log2(camera.target / luminance), -camera.max_stops, camera.max_stops)
        wanted = exposure + camera.strength * np.log2(means[1] / means)
        state = direct.state
        direct.state = wanted if state is None else state + camera.rate * (wanted - state)
        out = linear * (2.0 ** direct.state).astype(np.float32)
        return np.round(np.clip(out, 0.0, 1.0) ** (1.0 / GAMMA) * 255.0).astype(np.uint8)

    direct.state = None
    rng = np.random.default_rng(4)
    camera, reference = AutoExposure(), AutoExposure()
    for index in range(12):
        frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        if index % 3 == 1:   # dark, saturating and cast frames drive the gains to their limits
            frame = (frame * 0.1).astype(np.uint8)
        elif index % 3 == 2:
            frame[..., 0] = 255
        expected = direct(reference, frame)
        got = camera(frame)
        assert got.dtype == np.uint8 and got.shape == frame.shape
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_allclose(camera.gains, 2.0 ** direct.state, rtol=1e-12)
