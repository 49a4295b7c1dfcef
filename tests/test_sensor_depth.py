"""The structured-light depth sensor model applied to generated (perfect) depth maps."""
import json

import numpy as np
import pytest

from reid.data.sensor_depth import (FAR_VALUE, StructuredLightDepth, depth_camera_extrinsic,
                                    nguyen_axial_sigma)

HEIGHT, WIDTH = 120, 160
FOCAL = WIDTH / (2.0 * np.tan(np.radians(29.0)))      # 58 degrees across, about 144 px
BOX_ROWS, BOX_COLS = slice(40, 80), slice(60, 100)     # a box at 1 m before a wall at 3 m


def clean_sensor(**overrides):
    """A sensor without speckle holes, so that every hole a test sees has a geometric cause."""
    return StructuredLightDepth(**{"speckle_rate": 0.0, **overrides})


def box_before_wall(box=1.0, wall=3.0):
    depth = np.full((HEIGHT, WIDTH), wall, np.float32)
    depth[BOX_ROWS, BOX_COLS] = box
    return depth


def lost(out, region):
    return float(np.mean(out[region] == 0))


def test_output_is_uint16_millimetres_close_to_the_truth():
    depth = np.full((HEIGHT, WIDTH), 2.0, np.float32)
    out = clean_sensor()(depth, np.random.default_rng(0), focal_px=FOCAL)
    assert out.dtype == np.uint16 and out.shape == depth.shape
    valid = out[out > 0].astype(np.float64)
    assert valid.size > 0.99 * depth.size
    assert abs(valid.mean() - 2000.0) < 3.0
    assert 0.5 * 1000 * nguyen_axial_sigma(2.0) < valid.std() < 2.0 * 1000 * nguyen_axial_sigma(2.0)


def bands_of_depth(depths, rows_each=12):
    """Horizontal fronto-parallel bands, one per depth, top to bottom."""
    return np.repeat(np.asarray(depths, np.float32), rows_each)[:, None].repeat(WIDTH, axis=1)


def band_interior(index, rows_each=12):
    """The rows of a band out of reach of the edge holes along its borders (<= 3 px)."""
    return slice(index * rows_each + 4, (index + 1) * rows_each - 4), slice(4, WIDTH - 4)


def test_nothing_nearer_than_min_range_or_farther_than_max_range_is_returned():
    depths = [0.3, 0.55, 0.62, 0.8, 2.0, 4.0, 5.8, 6.5, 9.0]
    depth = bands_of_depth(depths)
    sensor = clean_sensor(min_range=0.6, max_range=6.0)
    out = sensor(depth, np.random.default_rng(1), focal_px=FOCAL)
    valid = out[out > 0]
    assert valid.min() >= 600 and valid.max() <= 6000
    for index in (0, 1, 7, 8):                       # 0.3, 0.55, 6.5, 9 m: never measured
        assert np.all(out[band_interior(index)] == 0)
    for index in (3, 4, 5):                          # 0.8, 2, 4 m: measured
        assert lost(out, band_interior(index)) < 0.01


def test_saturate_far_writes_65535_beyond_range_and_where_nothing_was_hit():
    depth = bands_of_depth([0.3, 2.0, 9.0, 0.0])
    out = clean_sensor(saturate_far=True)(depth, np.random.default_rng(2), focal_px=FOCAL)
    assert np.all(out[band_interior(0)] == 0)                   # too near: still invalid_value
    assert lost(out, band_interior(1)) < 0.01 and np.all(out[band_interior(1)] < 2200)
    assert np.all(out[band_interior(2)] == FAR_VALUE)           # too far
    assert np.all(out[band_interior(3)] == FAR_VALUE)           # nothing hit
    plain = clean_sensor()(depth, np.random.default_rng(2), focal_px=FOCAL)
    assert not np.any(plain == FAR_VALUE)
    assert np.all(plain[band_interior(2)] == 0) and np.all(plain[band_interior(3)] == 0)


def test_non_finite_and_negative_input_are_invalid_not_nan():
    depth = np.full((HEIGHT, WIDTH), 2.0, np.float32)
    depth[:10], depth[10:20], depth[20:30] = np.nan, np.inf, -1.0
    out = clean_sensor()(depth, np.random.default_rng(3), focal_px=FOCAL)
    assert out.dtype == np.uint16
    assert np.all(out[:30] == 0)
    assert lost(out, (slice(40, None), slice(None))) < 0.01


def test_holes_follow_depth_edges_but_not_the_inside_of_flat_regions():
    out = clean_sensor()(box_before_wall(), np.random.default_rng(4), focal_px=FOCAL)
    top_edge = (slice(39, 41), slice(70, 90))        # the rows either side of the box's top edge
    bottom_edge = (slice(79, 81), slice(70, 90))
    right_edge = (slice(50, 70), slice(99, 101))
    for edge in (top_edge, bottom_edge, right_edge):
        assert lost(out, edge) > 0.5
    assert lost(out, (slice(48, 72), slice(68, 92))) == 0.0      # inside the box
    assert lost(out, (slice(5, 30), slice(5, WIDTH - 5))) == 0.0  # the wall above it
    assert lost(out, (slice(90, 115), slice(5, WIDTH - 5))) == 0.0


def shadow_width(sensor, box=1.0, wall=3.0):
    return FOCAL * sensor.baseline * (1.0 / box - 1.0 / wall)


def test_the_projector_shadow_is_a_band_beside_the_box_on_the_side_away_from_the_projector():
    sensor = clean_sensor(projector_side=1)          # projector at +x: shadow at smaller columns
    width = shadow_width(sensor)                     # about 7 px
    assert 5 < width < 9
    out = sensor(box_before_wall(), np.random.default_rng(5), focal_px=FOCAL)
    rows = slice(45, 75)
    left = BOX_COLS.start
    shadow_band = (rows, slice(left - int(width) + 1, left))
    beyond_shadow = (rows, slice(left - int(width) - 12, left - int(width) - 3))
    mirror_band = (rows, slice(BOX_COLS.stop + 3, BOX_COLS.stop + int(width)))
    assert lost(out, shadow_band) == 1.0
    assert lost(out, beyond_shadow) == 0.0
    assert lost(out, mirror_band) < 0.15             # only the tail of the edge band reaches there

    mirrored = clean_sensor(projector_side=-1)(box_before_wall(), np.random.default_rng(5), focal_px=FOCAL)
    right = BOX_COLS.stop
    assert lost(mirrored, (rows, slice(right, right + int(width) - 1))) == 1.0
    assert lost(mirrored, (rows, slice(left - int(width), left - 3))) < 0.15


def test_the_shadow_widens_as_the_foreground_comes_nearer():
    sensor = clean_sensor(edge_hole_probability=0.0)
    widths = []
    for box in (0.8, 1.5, 2.5):
        out = sensor(box_before_wall(box=box), np.random.default_rng(6), focal_px=FOCAL)
        widths.append(np.mean(out[50:70, :BOX_COLS.start] == 0) * BOX_COLS.start)
        assert widths[-1] == pytest.approx(shadow_width(sensor, box=box), abs=1.5)
    assert widths[0] > widths[1] > widths[2]


def test_dark_surfaces_lose_far_more_pixels_than_bright_ones():
    depth = np.full((HEIGHT, WIDTH), 2.0, np.float32)
    rgb = np.full((HEIGHT, WIDTH, 3), 200, np.uint8)
    rgb[:, : WIDTH // 2] = 8
    sensor = clean_sensor(dark_threshold=40.0, dark_hole_probability=0.9)
    out = sensor(depth, np.random.default_rng(7), rgb=rgb, focal_px=FOCAL)
    dark, bright = lost(out, np.s_[:, : WIDTH // 2]), lost(out, np.s_[:, WIDTH // 2:])
    assert dark > 0.6 and bright < 0.01
    assert lost(sensor(depth, np.random.default_rng(7), focal_px=FOCAL), np.s_[:, : WIDTH // 2]) < 0.01
    half_size = rgb[::2, ::2].copy()                 # a colour image of another size is resized
    out_small_rgb = sensor(depth, np.random.default_rng(7), rgb=half_size, focal_px=FOCAL)
    assert lost(out_small_rgb, np.s_[:, : WIDTH // 2 - 2]) > 0.6


def floor_depth_and_incidence(camera_height=0.4):
    """A floor seen by a level camera: depth (0 above the horizon) and the true incidence angle."""
    v = np.arange(HEIGHT, dtype=np.float64)[:, None].repeat(WIDTH, axis=1)
    u = np.arange(WIDTH, dtype=np.float64)[None, :].repeat(HEIGHT, axis=0)
    ray_x, ray_y = (u - (WIDTH - 1) / 2) / FOCAL, (v - (HEIGHT - 1) / 2) / FOCAL
    with np.errstate(divide="ignore"):
        depth = np.where(ray_y > 0, camera_height / ray_y, 0.0)
    incidence = np.degrees(np.arccos(np.clip(ray_y / np.sqrt(1 + ray_x ** 2 + ray_y ** 2), -1, 1)))
    return depth.astype(np.float32), incidence


def test_surfaces_seen_at_grazing_angles_are_lost():
    depth, incidence = floor_depth_and_incidence()
    sensor = clean_sensor(edge_hole_probability=0.0, max_range=30.0, grazing_start_deg=75.0,
                          grazing_full_deg=85.0, grazing_hole_probability=0.9)
    out = sensor(depth, np.random.default_rng(8), focal_px=FOCAL)
    on_floor = depth > 0
    grazing = on_floor & (incidence > 86.0)
    facing = on_floor & (incidence < 70.0)
    assert grazing.sum() > 200 and facing.sum() > 200
    assert np.mean(out[grazing] == 0) > 0.7
    assert np.mean(out[facing] == 0) < 0.01


def expected_std_mm(sensor, z):
    """Nguyen sigma, disparity quantisation and millimetre rounding, each as an independent variance."""
    step = z * z * sensor.disparity_step_px / (sensor.native_focal_px * sensor.baseline)
    sigma = sensor.noise_scale * nguyen_axial_sigma(z)
    return 1000.0 * np.sqrt(sigma ** 2 + step ** 2 / 12.0 + 1e-6 / 12.0)


def test_noise_on_a_flat_wall_grows_with_distance_as_modelled():
    sensor = clean_sensor(noise_correlation_px=0.0)
    stds = {}
    for z in (1.0, 4.0):
        wall = np.full((200, 200), z, np.float32)
        out = sensor(wall, np.random.default_rng(9), focal_px=FOCAL)
        measured = out[out > 0].astype(np.float64)
        stds[z] = measured.std()
        assert stds[z] == pytest.approx(expected_std_mm(sensor, z), rel=0.2)
        assert abs(measured.mean() - 1000.0 * z) < 0.2 * stds[z] + 1.0
    assert stds[4.0] > 8 * stds[1.0]
    louder = clean_sensor(noise_correlation_px=0.0, noise_scale=1.5)
    out = louder(np.full((200, 200), 4.0, np.float32), np.random.default_rng(9), focal_px=FOCAL)
    assert out[out > 0].std() > 1.2 * stds[4.0]


def test_correlated_noise_keeps_its_sigma_but_varies_smoothly():
    wall = np.full((200, 200), 3.0, np.float32)
    white = clean_sensor(noise_correlation_px=0.0, disparity_step_px=0.0)(wall, np.random.default_rng(10))
    smooth = clean_sensor(noise_correlation_px=1.5, disparity_step_px=0.0)(wall, np.random.default_rng(10))
    white, smooth = white.astype(np.float64), smooth.astype(np.float64)
    assert smooth.std() == pytest.approx(white.std(), rel=0.15)
    assert np.abs(np.diff(smooth, axis=1)).mean() < 0.6 * np.abs(np.diff(white, axis=1)).mean()


def test_depth_is_quantised_in_disparity_steps():
    sensor = clean_sensor(noise_scale=0.0)
    ramp = np.linspace(3.0, 3.5, WIDTH, dtype=np.float32)[None, :].repeat(HEIGHT, axis=0)
    out = sensor(ramp, np.random.default_rng(11), focal_px=FOCAL)
    levels = np.unique(out[out > 0]).astype(np.float64)
    focal_baseline = sensor.native_focal_px * sensor.baseline
    step_at_3m = 1000.0 * 3.25 ** 2 * sensor.disparity_step_px / focal_baseline
    assert len(levels) <= 500 / step_at_3m + 3
    assert np.median(np.diff(levels)) == pytest.approx(step_at_3m, rel=0.2)
    disparity_steps = 1000.0 * focal_baseline / (levels * sensor.disparity_step_px)   # integers
    np.testing.assert_allclose(disparity_steps, np.round(disparity_steps), atol=0.03)   # mm rounding


def test_speckle_holes_are_small_and_rare():
    wall = np.full((HEIGHT, WIDTH), 2.0, np.float32)
    out = StructuredLightDepth(speckle_rate=0.002)(wall, np.random.default_rng(12), focal_px=FOCAL)
    assert 0.002 < np.mean(out == 0) < 0.05


def test_equal_seeds_give_equal_frames_and_different_seeds_different_ones():
    depth = box_before_wall()
    rgb = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    sensor = StructuredLightDepth()
    first = sensor(depth, np.random.default_rng(42), rgb=rgb, focal_px=FOCAL)
    again = sensor(depth, np.random.default_rng(42), rgb=rgb, focal_px=FOCAL)
    other = sensor(depth, np.random.default_rng(43), rgb=rgb, focal_px=FOCAL)
    np.testing.assert_array_equal(first, again)
    assert np.mean(first != other) > 0.2
    np.testing.assert_array_equal(depth, box_before_wall())       # the input is left alone


def test_sampled_sensors_are_plausible_different_and_describable():
    sensors = [StructuredLightDepth.sample(np.random.default_rng(seed)) for seed in range(20)]
    for sensor in sensors:
        assert 0.45 <= sensor.min_range <= 0.8 and sensor.max_range > 3.5
        assert 0.7 <= sensor.noise_scale <= 1.5
        assert not sensor.saturate_far
        described = json.loads(json.dumps(sensor.describe()))
        assert described["model"] == "structured-light" and described["min_range"] == sensor.min_range
    assert len({sensor.min_range for sensor in sensors}) == 20
    assert StructuredLightDepth.sample(np.random.default_rng(5)) == sensors[5]
    assert any(StructuredLightDepth.sample(np.random.default_rng(seed), saturate_far_probability=0.5).saturate_far
               for seed in range(10))


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError):
        StructuredLightDepth(min_range=2.0, max_range=1.0)
    with pytest.raises(ValueError):
        StructuredLightDepth(projector_side=0)
    with pytest.raises(ValueError):
        StructuredLightDepth(edge_hole_probability=1.5)


def is_rigid(transform):
    rotation = transform[:3, :3]
    return (transform.shape == (4, 4) and np.allclose(transform[3], [0, 0, 0, 1])
            and np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(rotation), 1.0))


def test_the_depth_camera_extrinsic_is_a_small_rigid_offset_along_x():
    plain = depth_camera_extrinsic()
    assert is_rigid(plain)
    np.testing.assert_allclose(plain[:3, 3], [-0.025, 0, 0])
    np.testing.assert_allclose(plain[:3, :3], np.eye(3))
    assert depth_camera_extrinsic(side=1)[0, 3] == pytest.approx(0.025)
    for seed in range(10):
        extrinsic = depth_camera_extrinsic(np.random.default_rng(seed))
        assert is_rigid(extrinsic)
        offset = extrinsic[:3, 3]
        assert 0.015 < np.linalg.norm(offset) < 0.04 and abs(offset[0]) > 5 * np.abs(offset[1:]).max()
        angle = np.degrees(np.arccos(np.clip((np.trace(extrinsic[:3, :3]) - 1) / 2, -1, 1)))
        assert angle < 1.0
    np.testing.assert_array_equal(depth_camera_extrinsic(np.random.default_rng(3)),
                                  depth_camera_extrinsic(np.random.default_rng(3)))
