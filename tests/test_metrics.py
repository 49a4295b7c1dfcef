"""CMC and mAP against values computed by hand."""
import numpy as np
import pytest

from reid.metrics import cmc_and_map, squared_distances


def test_squared_distances():
    q = np.array([[0.0, 0.0], [1.0, 1.0]])
    g = np.array([[3.0, 4.0], [1.0, 0.0]])
    np.testing.assert_allclose(squared_distances(q, g), [[25.0, 1.0], [13.0, 1.0]])


def test_cmc_and_map_by_hand():
    # query 0 (id 7): ranking -> ids [5, 7, 9, 7]: first hit at rank 2, AP = (1/2 + 2/4) / 2 = 0.5
    # query 1 (id 9): ranking -> ids [9, 5, 7, 7]: first hit at rank 1, AP = 1
    # query 2 (id 4): no true match in the gallery -> not evaluated
    gallery_ids = np.array([7, 5, 9, 7])
    distances = np.array([[0.2, 0.1, 0.3, 0.4],
                          [0.3, 0.2, 0.1, 0.35],
                          [0.1, 0.2, 0.3, 0.4]])
    result = cmc_and_map(distances, [7, 9, 4], gallery_ids, ranks=(1, 2, 5))
    assert result["queries"] == 2
    assert result["rank1"] == pytest.approx(0.5)
    assert result["rank2"] == pytest.approx(1.0)
    assert result["rank5"] == pytest.approx(1.0)
    assert result["mAP"] == pytest.approx(0.75)


def test_valid_mask_restricts_the_gallery():
    # hiding gallery item 1 (id 5) from query 0 moves its first hit to rank 1
    distances = np.array([[0.2, 0.1, 0.3, 0.4]])
    valid = np.array([[True, False, True, True]])
    result = cmc_and_map(distances, [7], [7, 5, 9, 7], ranks=(1,), valid=valid)
    assert result["rank1"] == 1.0
    # AP: ranking [7, 9, 7] -> (1/1 + 2/3) / 2
    assert result["mAP"] == pytest.approx((1 + 2 / 3) / 2)
