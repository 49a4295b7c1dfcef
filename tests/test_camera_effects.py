"""Camera and light models of the generator: lens/sensor effects, image motion, preset families."""
import json

import cv2
import numpy as np
import pytest

from reid.data.camera_effects import (CAMERA_PRESETS, CAMERA_SPLITS, LIGHT_PRESETS, LIGHT_SPLITS, CameraEffects,
                                      Lighting, colour_temperature_rgb, fit_aspect, image_motion, sample_camera,
                                      sample_lighting, to_linear)
from reid.data.geometry import intrinsics_for_fov, look_at

SIZE = (320, 240)


def make_test_image():
    """A 240x320 RGB test image: checkerboard, stripes, a disc and a ramp (many edges and frequencies)."""
    height, width = SIZE[1], SIZE[0]
    y, x = np.mgrid[0:height, 0:width]
    grey = np.where(((x // 8) + (y // 8)) % 2 == 0, 40, 210).astype(np.uint8)
    grey[:, 160:] = np.where((x[:, 160:] // 4) % 2 == 0, 60, 190)           # fine vertical stripes
    grey[120:, :160] = (x[120:, :160] * 255 // 160).astype(np.uint8)        # ramp
    image = np.dstack([grey, grey, grey])
    cv2.circle(image, (80, 180), 30, (200, 60, 40), -1)
    cv2.line(image, (170, 20), (310, 220), (20, 220, 90), 2)
    return image


def laplacian_variance(rgb):
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def rotation_about_camera_axis(axis, degrees):
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    rotations = {"y": [[c, 0, s], [0, 1, 0], [-s, 0, c]], "x": [[1, 0, 0], [0, c, -s], [0, s, c]]}
    transform = np.eye(4)
    transform[:3, :3] = rotations[axis]
    return transform


# ---------------------------------------------------------------------------------------------------
# lens and sensor effects
# ---------------------------------------------------------------------------------------------------

def test_an_ideal_camera_leaves_the_frame_unchanged_and_bad_input_is_refused():
    image = make_test_image()
    np.testing.assert_array_equal(CameraEffects().apply(image, np.random.default_rng(0)), image)
    np.testing.assert_array_equal(CameraEffects().apply(image, np.random.default_rng(0), motion_px=(0.1, 0.2)), image)
    with pytest.raises(ValueError):
        CameraEffects().apply(image.astype(np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError):
        CameraEffects().apply(image[:, :, 0], np.random.default_rng(0))
    for bad in (dict(defocus_radius_px=-1), dict(exposure_fraction=0), dict(gain=0.5), dict(vignetting=1.0),
                dict(chroma_noise=1.5), dict(jpeg_quality=0), dict(full_well_e=0)):
        with pytest.raises(ValueError):
            CameraEffects(**bad)


def test_defocus_lowers_high_frequency_energy_monotonically_with_the_radius():
    image = make_test_image()
    energies = [laplacian_variance(CameraEffects(defocus_radius_px=r).apply(image, np.random.default_rng(0)))
                for r in (0.0, 1.0, 1.5, 2.0, 3.0, 4.0)]
    assert all(a > b for a, b in zip(energies, energies[1:])), energies
    assert energies[-1] < 0.1 * energies[0]


def test_depth_dependent_defocus_keeps_the_focus_plane_sharp():
    image = make_test_image()
    depth = np.full(image.shape[:2], 6.0, np.float32)
    depth[:, :160] = 1.5                                      # left half at the focus distance
    out = CameraEffects(defocus_radius_px=2.0, focus_distance_m=1.5).apply(image, np.random.default_rng(0),
                                                                           depth=depth)
    np.testing.assert_array_equal(out[5:-5, 5:150], image[5:-5, 5:150])
    assert laplacian_variance(out[:, 170:]) < 0.3 * laplacian_variance(image[:, 170:])
    with pytest.raises(ValueError):
        CameraEffects(defocus_radius_px=2.0, focus_distance_m=1.5).apply(image, np.random.default_rng(0),
                                                                         depth=depth[:10])


@pytest.mark.parametrize("motion", [(12.0, 0.0), (0.0, 12.0), (40.0, 0.0)])   # 40: the long-streak path
def test_motion_blur_smears_along_the_motion_and_not_across_it(motion):
    height, width = SIZE[1], SIZE[0]
    coordinates = np.mgrid[0:height, 0:width]                          # (row, column) per pixel
    motion_axis = 1 if motion[0] else 0                                # numpy axis the motion runs along
    for varying_axis, survives in ((motion_axis, False), (1 - motion_axis, True)):
        grey = np.where((coordinates[varying_axis] // 6) % 2 == 0, 30, 220).astype(np.uint8)
        image = np.dstack([grey] * 3)
        out = CameraEffects(exposure_fraction=1.0).apply(image, np.random.default_rng(0), motion_px=motion)
        before = np.abs(np.diff(image[..., 1].astype(float), axis=varying_axis)).mean()
        after = np.abs(np.diff(out[..., 1].astype(float), axis=varying_axis)).mean()
        if survives:
            assert after > 0.95 * before     # stripes parallel to the motion stay sharp
        else:
            assert after < 0.25 * before     # stripes across the motion are smeared


@pytest.mark.parametrize("motion", [(12.0, 9.0), (-30.0, 24.0)])
def test_a_point_is_streaked_along_the_given_direction_with_the_given_length(motion):
    image = np.zeros((121, 121, 3), np.uint8)
    image[60, 60] = 255
    effects = CameraEffects(exposure_fraction=0.5)
    out = to_linear(effects.apply(image, np.random.default_rng(0), motion_px=motion))[..., 1].astype(np.float64)
    y, x = np.mgrid[0:121, 0:121]
    weight = out / out.sum()
    mx, my = (weight * x).sum(), (weight * y).sum()
    covariance = np.cov(np.stack([x.ravel() - mx, y.ravel() - my]), aweights=weight.ravel())
    values, vectors = np.linalg.eigh(covariance)
    along = vectors[:, 1]
    expected = np.array(motion) / np.linalg.norm(motion)
    assert abs(abs(along @ expected) - 1.0) < 1e-3                  # the streak lies along the motion
    streak = 0.5 * np.linalg.norm(motion)
    assert np.sqrt(12 * values[1]) == pytest.approx(streak, rel=0.15)   # a box of the streak's length
    assert values[0] < 0.75                                          # and about a pixel wide
    assert abs(mx - 60) < 0.3 and abs(my - 60) < 0.3                 # centred on the point


def test_noise_grows_with_gain_and_with_the_signal_above_the_read_noise_floor():
    image = np.zeros((200, 200, 3), np.uint8)
    image[:, :100] = 40          # dark: near the read-noise floor
    image[:, 100:] = 200         # bright: shot noise dominates
    stds = {}
    for gain in (1.0, 4.0):
        camera = CameraEffects(full_well_e=4000, read_noise_e=5, gain=gain, chroma_noise=0.5)
        out = to_linear(camera.apply(image, np.random.default_rng(0))).astype(np.float64)
        dark, bright = out[:, :100].std(axis=(0, 1)).mean(), out[:, 100:].std(axis=(0, 1)).mean()
        stds[gain] = dark, bright
        signal = to_linear(np.array([[40, 200]], np.uint8))[0]
        predicted = camera.noise_std(signal)
        assert dark == pytest.approx(predicted[0], rel=0.1)
        assert bright == pytest.approx(predicted[1], rel=0.1)
        assert bright > 3 * dark
    assert stds[4.0][0] > 2 * stds[1.0][0] and stds[4.0][1] > 1.5 * stds[1.0][1]
    # the extra gain of an auto exposure adds noise the same way
    boosted = to_linear(CameraEffects(full_well_e=4000, read_noise_e=5).apply(
        image, np.random.default_rng(0), gain_scale=4.0)).astype(np.float64)
    assert boosted[:, 100:].std(axis=(0, 1)).mean() == pytest.approx(stds[4.0][1], rel=0.1)


def test_chroma_noise_sets_how_much_the_channels_share_their_noise():
    image = np.full((150, 150, 3), 128, np.uint8)
    for chroma, low, high in ((0.0, 0.95, 1.0), (1.0, -0.1, 0.1), (0.6, 0.4, 0.9)):
        out = CameraEffects(full_well_e=2000, read_noise_e=5, gain=2, chroma_noise=chroma).apply(
            image, np.random.default_rng(1)).astype(np.float64)
        correlation = np.corrcoef(out[..., 0].ravel(), out[..., 2].ravel())[0, 1]
        assert low <= correlation <= high, (chroma, correlation)


@pytest.mark.parametrize("strength", [0.2, 0.45])
def test_vignetting_darkens_the_corners_by_the_configured_amount(strength):
    image = np.full((SIZE[1], SIZE[0], 3), 160, np.uint8)
    out = to_linear(CameraEffects(vignetting=strength).apply(image, np.random.default_rng(0)))[..., 1]
    centre = out[115:125, 155:165].mean()
    corners = np.mean([out[:3, :3].mean(), out[:3, -3:].mean(), out[-3:, :3].mean(), out[-3:, -3:].mean()])
    assert corners / centre == pytest.approx(1 - strength, abs=0.03)
    row = out[120, 160:]
    assert np.all(np.diff(row) <= 1e-3)                              # darker towards the edge


def test_chromatic_aberration_shifts_red_and_blue_apart_at_the_edges():
    image = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    image[:, 300:] = 255                                             # a white bar at the right edge
    out = CameraEffects(chromatic_aberration_px=2.0).apply(image, np.random.default_rng(0)).astype(int)
    # red is magnified (its edge moves outwards), blue shrunk (its edge moves inwards, ~1.4 px here)
    assert out[120, 297:300, 2].sum() > out[120, 297:300, 0].sum() + 100
    assert out[120, 300:302, 0].sum() < out[120, 300:302, 2].sum() - 100
    np.testing.assert_array_equal(out[120, 150:170], image[120, 150:170])  # the centre is untouched


def test_the_same_seed_gives_the_same_frame():
    image = make_test_image()
    camera = CameraEffects(defocus_radius_px=1.2, exposure_fraction=0.4, full_well_e=3000, read_noise_e=6, gain=3,
                           chroma_noise=0.5, vignetting=0.3, chromatic_aberration_px=1.0)
    a = camera.apply(image, np.random.default_rng(5), motion_px=(7.0, -3.0))
    b = camera.apply(image, np.random.default_rng(5), motion_px=(7.0, -3.0))
    c = camera.apply(image, np.random.default_rng(6), motion_px=(7.0, -3.0))
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    json.dumps(camera.describe())


# ---------------------------------------------------------------------------------------------------
# image motion
# ---------------------------------------------------------------------------------------------------

def test_image_motion_is_zero_without_motion_and_follows_pans_tilts_and_translation():
    intrinsic = intrinsics_for_fov(*SIZE, 60.0)
    fx = intrinsic[0, 0]
    pose = look_at([1.0, 2.0, 1.4], [3.0, 2.5, 1.0])
    assert np.allclose(image_motion(pose, pose, intrinsic, SIZE), 0.0, atol=1e-9)

    pan_right = pose @ rotation_about_camera_axis("y", 2.0)            # forward turns towards +x (right)
    dx, dy = image_motion(pose, pan_right, intrinsic, SIZE)
    assert dx < 0 and dx == pytest.approx(-fx * np.tan(np.radians(2.0)), rel=0.1) and abs(dy) < 0.1 * abs(dx)
    assert image_motion(pan_right, pose, intrinsic, SIZE)[0] > 0

    tilt_down = pose @ rotation_about_camera_axis("x", -2.0)           # forward turns towards +y (down)
    dx, dy = image_motion(pose, tilt_down, intrinsic, SIZE)
    assert dy < 0 and abs(dx) < 0.1 * abs(dy)

    step_right = pose.copy()
    step_right[:3, 3] += 0.1 * pose[:3, 0]                             # 10 cm along the camera's x axis
    dx, dy = image_motion(pose, step_right, intrinsic, SIZE, depth_m=2.0)
    assert dx == pytest.approx(-fx * 0.1 / 2.0, rel=1e-6) and abs(dy) < 1e-6


# ---------------------------------------------------------------------------------------------------
# presets
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("presets,splits", [(CAMERA_PRESETS, CAMERA_SPLITS), (LIGHT_PRESETS, LIGHT_SPLITS)])
def test_the_halves_are_disjoint_and_cover_every_family(presets, splits):
    assert set(splits) == {"train", "val"}
    assert not set(splits["train"]) & set(splits["val"])
    assert set(splits["train"]) | set(splits["val"]) == set(presets)


def test_sampling_draws_only_from_the_requested_half_and_is_deterministic():
    for split in ("train", "val"):
        cameras, lights = set(), set()
        for seed in range(60):
            name, effects, fov = sample_camera(np.random.default_rng(seed), split)
            low, high = CAMERA_PRESETS[name].horizontal_fov_deg
            assert low <= fov <= high and isinstance(effects, CameraEffects)
            json.dumps(effects.describe())
            cameras.add(name)
            light_name, lighting = sample_lighting(np.random.default_rng(seed), split)
            assert isinstance(lighting, Lighting)
            json.dumps(lighting.describe())
            lights.add(light_name)
        assert cameras == set(CAMERA_SPLITS[split]) and lights == set(LIGHT_SPLITS[split])
    a = sample_camera(np.random.default_rng(3), "val")
    b = sample_camera(np.random.default_rng(3), "val")
    assert a[0] == b[0] and a[1] == b[1] and a[2] == b[2]
    assert sample_lighting(np.random.default_rng(3), "train") == sample_lighting(np.random.default_rng(3), "train")
    assert sample_camera(np.random.default_rng(0), "train", preset="dslr-sharp")[0] == "dslr-sharp"


def test_bad_splits_and_presets_are_named_in_the_error():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="test"):
        sample_camera(rng, "test")
    with pytest.raises(ValueError, match="everything"):
        sample_lighting(rng, "everything")
    with pytest.raises(ValueError, match="kinect-v1"):
        sample_camera(rng, "train", preset="kinect-v1")                # a val family
    with pytest.raises(ValueError, match="no-such-light"):
        sample_lighting(rng, "val", preset="no-such-light")


def test_fit_aspect_keeps_the_requested_size_as_a_bound():
    assert fit_aspect((320, 240), (4, 3)) == (320, 240)
    assert fit_aspect((320, 240), (16, 9)) == (320, 180)
    assert fit_aspect((320, 180), (4, 3)) == (240, 180)


# ---------------------------------------------------------------------------------------------------
# lighting in pybullet
# ---------------------------------------------------------------------------------------------------

def test_colour_temperature_runs_from_warm_to_cool():
    warm, neutral, cool = (colour_temperature_rgb(k) for k in (3000, 6500, 9000))
    assert warm[0] / warm[2] > 1.5 and abs(neutral[0] / neutral[2] - 1) < 0.05 and cool[0] / cool[2] < 0.9
    with pytest.raises(ValueError):
        colour_temperature_rgb(100)


def test_lighting_kwargs_render_in_pybullet_and_warm_light_tints_the_image():
    from reid.data.render import pybullet   # imported quietly there

    client = pybullet.connect(pybullet.DIRECT)
    try:
        shape = pybullet.createVisualShape(pybullet.GEOM_BOX, halfExtents=[0.5, 0.5, 0.5],
                                           rgbaColor=[0.7, 0.7, 0.7, 1], physicsClientId=client)
        pybullet.createMultiBody(baseMass=0, baseVisualShapeIndex=shape, physicsClientId=client)
        view = pybullet.computeViewMatrix([2.0, 1.5, 1.8], [0, 0, 0], [0, 0, 1], physicsClientId=client)
        projection = pybullet.computeProjectionMatrixFOV(60, 4 / 3, 0.1, 10, physicsClientId=client)

        def red_over_blue(lighting):
            _, _, rgba, _, _ = pybullet.getCameraImage(64, 48, view, projection, renderer=pybullet.ER_TINY_RENDERER,
                                                       physicsClientId=client, **lighting.pybullet_kwargs())
            box = np.asarray(rgba, np.uint8).reshape(48, 64, 4)[16:32, 24:40, :3].reshape(-1, 3).astype(float)
            return box[:, 0].mean() / box[:, 2].mean()

        direction = (0.3, 0.2, 1.0)
        neutral = red_over_blue(Lighting.from_temperature(6500, direction=direction))
        warm = red_over_blue(Lighting.from_temperature(3000, direction=direction))
        cool = red_over_blue(Lighting.from_temperature(9000, direction=direction))
        assert warm > neutral * 1.1 and cool < neutral * 0.97
        assert abs(neutral - 1.0) < 0.05
        sampled = sample_lighting(np.random.default_rng(0), "val")[1]
        assert 0.5 < red_over_blue(sampled) < 2.0
    finally:
        pybullet.disconnect(client)


def test_a_low_native_resolution_softens_detail_and_keeps_the_size():
    image = np.zeros((96, 128, 3), np.uint8)
    image[:, ::2] = 255   # one-pixel stripes: the finest detail a frame holds
    sharp = CameraEffects()
    soft = CameraEffects(native_scale=0.5)
    out = soft.apply(image, np.random.default_rng(0))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(sharp.apply(image, np.random.default_rng(0)), image)
    assert cv2.Laplacian(out, cv2.CV_64F).var() < 0.1 * cv2.Laplacian(image, cv2.CV_64F).var()
    with pytest.raises(ValueError, match="native_scale"):
        CameraEffects(native_scale=1.5)
