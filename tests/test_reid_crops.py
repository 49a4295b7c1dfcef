"""Crop geometry: box from mask, 10-px expansion, clipping, fg/bg complementarity, invalid objects."""
import numpy as np
import pytest

from reid.crops import (box_from_mask, boxes_from_masks, expand_box, make_crops, stack_crops,
                        valid_objects)

FILL = (1, 2, 3)


def coded_image(height=60, width=80):
    """Every pixel distinct: R = column, G = row, B = (row * column) % 251 (never equal to FILL
    at the same time in all channels except by chance, which the tests avoid)."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([cols + 10, rows + 10, (rows * cols) % 251], axis=-1).astype(np.uint8)


# ------------------------------------------------------------------ boxes

def test_box_from_mask_by_hand_and_empty():
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True  # rows 2..4, columns 3..8
    mask[7, 4] = True      # row 7
    assert box_from_mask(mask).tolist() == [3.0, 2.0, 6.0, 6.0]
    assert box_from_mask(np.zeros((4, 4), bool)) is None
    single = np.zeros((5, 5), bool)
    single[4, 0] = True
    assert box_from_mask(single).tolist() == [0.0, 4.0, 1.0, 1.0]


def test_boxes_from_masks_matches_single_version():
    rng = np.random.default_rng(0)
    masks = rng.random((6, 20, 30)) > 0.97
    masks[2] = False
    boxes, nonempty = boxes_from_masks(masks)
    assert nonempty.tolist() == [m.any() for m in masks]
    for mask, box, ok in zip(masks, boxes, nonempty):
        expected = box_from_mask(mask)
        if ok:
            assert box.tolist() == expected.tolist()
        else:
            assert expected is None and box.tolist() == [0, 0, 0, 0]


def test_expand_box_by_hand():
    # 10 px each side: (5-10, 20-10) .. (35+10, 60+10) = (-5, 10) .. (45, 70)
    assert expand_box([5, 20, 30, 40], 10).tolist() == [-5.0, 10.0, 50.0, 60.0]
    # clipped at the left edge of a 100x80 image
    assert expand_box([5, 20, 30, 40], 10, (100, 80)).tolist() == [0.0, 10.0, 45.0, 60.0]
    # bottom-right corner: (80, 60) .. (108, 88) clipped to (100, 80)
    assert expand_box([90, 70, 8, 8], 10, (100, 80)).tolist() == [80.0, 60.0, 20.0, 20.0]
    # vectorised, other margin
    out = expand_box(np.array([[10, 10, 2, 2], [0, 0, 1, 1]]), 3, (20, 20))
    assert out.tolist() == [[7.0, 7.0, 8.0, 8.0], [0.0, 0.0, 4.0, 4.0]]
    # entirely outside: zero size after clipping
    assert expand_box([200, 5, 4, 4], 10, (100, 80))[2] == 0.0


# ------------------------------------------------------------------ crops at identity scale

def test_full_crop_is_the_expanded_box_when_sizes_match():
    rgb = coded_image()
    # box (20, 15, 10, 10) -> expanded (10, 5, 30, 30): rows 5..34, columns 10..39
    crops = make_crops(rgb, [[20, 15, 10, 10]], None, size=30, fill=FILL)
    assert crops["full"].shape == (1, 30, 30, 3)
    np.testing.assert_array_equal(crops["full"][0], rgb[5:35, 10:40])


def test_fractional_box_rounds_outwards():
    rgb = coded_image()
    # expanded (10.5, 5.2) .. (39.5, 34.8) covers columns 10..39 and rows 5..34
    crops = make_crops(rgb, [[20.5, 15.2, 9.0, 9.6]], None, size=30, kinds=("full",))
    np.testing.assert_array_equal(crops["full"][0], rgb[5:35, 10:40])


def test_foreground_and_background_are_exact_complements_with_mask():
    rgb = coded_image()
    mask = np.zeros((1, 60, 80), bool)
    mask[0, 12:30, 18:33] = np.random.default_rng(1).random((18, 15)) > 0.4
    mask[0, 15, 20] = True
    crops = make_crops(rgb, [[20, 15, 10, 10]], mask, size=30, fill=FILL)
    full, fg, bg = crops["full"][0], crops["foreground"][0], crops["background"][0]
    obj = mask[0, 5:35, 10:40]
    fill = np.array(FILL, np.uint8)
    np.testing.assert_array_equal(fg[obj], full[obj])
    np.testing.assert_array_equal(bg[~obj], full[~obj])
    assert (fg[~obj] == fill).all() and (bg[obj] == fill).all()
    # object pixels outside the unexpanded box but inside the crop count as object too
    assert obj[7, 8] == mask[0, 12, 18]


def test_complementary_after_resizing():
    rgb = coded_image(120, 160)
    rng = np.random.default_rng(2)
    masks = rng.random((2, 120, 160)) > 0.5
    boxes = [[30.3, 20.7, 55.1, 61.9], [100, 90, 3, 2]]  # one shrinks, one grows
    crops = make_crops(rgb, boxes, masks, size=24, fill=FILL)
    full, fg, bg = crops["full"], crops["foreground"], crops["background"]
    fill = np.array(FILL, np.uint8)
    fg_kept = (fg == full).all(-1)
    bg_kept = (bg == full).all(-1)
    fg_filled = (fg == fill).all(-1)
    bg_filled = (bg == fill).all(-1)
    # every pixel is kept in exactly one of the two and filled in the other
    assert ((fg_kept & bg_filled) | (bg_kept & fg_filled)).all()
    assert fg_filled.any() and bg_filled.any()


def test_box_only_background_fills_the_unexpanded_box():
    rgb = coded_image()
    crops = make_crops(rgb, [[20, 15, 10, 10]], None, size=30, fill=FILL)
    np.testing.assert_array_equal(crops["foreground"], crops["full"])
    bg, full = crops["background"][0], crops["full"][0]
    inside = np.zeros((30, 30), bool)
    inside[10:20, 10:20] = True  # box rows 15..24, cols 20..29 in crop coordinates
    assert (bg[inside] == np.array(FILL, np.uint8)).all()
    np.testing.assert_array_equal(bg[~inside], full[~inside])


# ------------------------------------------------------------------ borders, tiny, outside

def test_box_touching_the_border_is_clipped():
    rgb = coded_image()
    crops = make_crops(rgb, [[0, 0, 5, 5]], None, size=15, kinds=("full",))
    np.testing.assert_array_equal(crops["full"][0], rgb[0:15, 0:15])
    crops = make_crops(rgb, [[75, 55, 5, 5]], None, size=15, kinds=("full",))
    np.testing.assert_array_equal(crops["full"][0], rgb[45:60, 65:80])


def test_box_partly_outside_the_image():
    rgb = coded_image()
    # (-8, -8, 12, 12): visible part is columns/rows 0..3; expanded and clipped: 0..13
    crops = make_crops(rgb, [[-8, -8, 12, 12]], None, size=14, fill=FILL)
    np.testing.assert_array_equal(crops["full"][0], rgb[0:14, 0:14])
    assert (crops["background"][0, :4, :4] == np.array(FILL, np.uint8)).all()
    np.testing.assert_array_equal(crops["background"][0, 4:, :], rgb[4:14, 0:14])


def test_one_pixel_object():
    rgb = coded_image()
    mask = np.zeros((1, 60, 80), bool)
    mask[0, 30, 40] = True
    crops = make_crops(rgb, [[40, 30, 1, 1]], mask, size=21, fill=FILL)
    np.testing.assert_array_equal(crops["full"][0], rgb[20:41, 30:51])
    kept = (crops["foreground"][0] != np.array(FILL, np.uint8)).any(-1)
    assert kept.sum() == 1 and kept[10, 10]


def test_invalid_objects_raise_naming_their_index():
    rgb = coded_image()
    good = [20, 15, 10, 10]
    with pytest.raises(ValueError, match="object 1: .*outside"):
        make_crops(rgb, [good, [100, 100, 5, 5]])
    with pytest.raises(ValueError, match="object 0: .*zero area"):
        make_crops(rgb, [[10, 10, 0, 5], good])
    with pytest.raises(ValueError, match="object 0: .*non-finite"):
        make_crops(rgb, [[np.nan, 10, 5, 5]])
    masks = np.zeros((3, 60, 80), bool)
    masks[0, 20, 25] = True
    masks[1, 20, 25] = True
    masks[2, 59, 79] = True  # only far from its box
    with pytest.raises(ValueError, match="object 2: mask is empty"):
        make_crops(rgb, [good, good, good], masks)
    # touching the image only beyond its edge (x + w == 0) is outside too
    with pytest.raises(ValueError, match="object 0"):
        make_crops(rgb, [[-5, 10, 5, 5]])


def test_valid_objects_agrees_with_make_crops():
    rgb = coded_image()
    boxes = [[20, 15, 10, 10], [100, 100, 5, 5], [10, 10, 0, 5], [-3, -3, 5, 5], [20, 15, 10, 10]]
    masks = np.zeros((5, 60, 80), bool)
    masks[:, 20, 25] = True
    masks[3, 0, 0] = True
    masks[4] = False
    valid = valid_objects((80, 60), boxes, masks)
    assert valid.tolist() == [True, False, False, True, False]
    for i, box in enumerate(boxes):
        if valid[i]:
            make_crops(rgb, [box], masks[i:i + 1])
        else:
            with pytest.raises(ValueError, match="object 0"):
                make_crops(rgb, [box], masks[i:i + 1])


def test_no_objects_and_input_checks():
    rgb = coded_image()
    crops = make_crops(rgb, np.zeros((0, 4)), None, size=16)
    assert set(crops) == {"foreground", "background", "full"}
    assert all(c.shape == (0, 16, 16, 3) and c.dtype == np.uint8 for c in crops.values())
    with pytest.raises(ValueError, match="uint8"):
        make_crops(rgb.astype(np.float32), [[1, 1, 5, 5]])
    with pytest.raises(ValueError, match="NxHxW"):
        make_crops(rgb, [[1, 1, 5, 5]], np.ones((1, 30, 40), bool))
    with pytest.raises(ValueError, match="2 boxes but 1 masks"):
        make_crops(rgb, [[1, 1, 5, 5], [3, 3, 5, 5]], np.ones((1, 60, 80), bool))
    with pytest.raises(ValueError, match="unknown crop kinds"):
        make_crops(rgb, [[1, 1, 5, 5]], kinds=("fg",))


def test_kinds_subset_and_stack():
    rgb = coded_image()
    a = make_crops(rgb, [[20, 15, 10, 10]], None, size=8, kinds=("full",))
    b = make_crops(rgb, [[5, 5, 10, 10], [30, 30, 10, 10]], None, size=8, kinds=("full",))
    assert set(a) == {"full"}
    stacked = stack_crops([a, b])
    assert stacked["full"].shape == (3, 8, 8, 3)
    np.testing.assert_array_equal(stacked["full"][1:], b["full"])
