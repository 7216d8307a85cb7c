"""Geometry and degradation rules of docs/CONTRACTS.md."""
import numpy as np
import pytest

from pssr_trainer.data import _dihedral
from pssr_trainer.degrade import (degradation_spec, degrade, downsample4, frame_window, percentile_range, to_dtype,
                                  upsample_bicubic4, upsample_bilinear4)


def test_ramp_has_no_shift_after_degrade_and_bilinear():
    # A linear ramp degraded (centre-mean-2x2 at 4i+1.5) and upsampled with pixel centres comes back
    # unshifted away from the borders: the whole pipeline shares one grid.
    x = np.arange(64, dtype=np.float64)
    hr = np.tile(x, (64, 1))
    lr = degrade(hr, degradation_spec("none"), np.random.default_rng(0))
    assert lr[0, :4].tolist() == pytest.approx([1.5, 5.5, 9.5, 13.5])
    up = upsample_bilinear4(lr)
    np.testing.assert_allclose(up[:, 4:-4], hr[:, 4:-4], atol=1e-4)
    upc = upsample_bicubic4(lr)
    np.testing.assert_allclose(upc[:, 8:-8], hr[:, 8:-8], atol=1e-4)


def test_downsample_is_mean_of_centre_2x2_and_crops():
    hr = np.arange(10 * 9, dtype=np.float64).reshape(10, 9)
    lr = downsample4(hr)
    assert lr.shape == (2, 2)
    assert lr[1, 1] == pytest.approx(hr[5:7, 5:7].mean())


def test_noise_levels_on_0_255_scale():
    rng = np.random.default_rng(1)
    hr = np.tile(np.linspace(0, 1000, 400), (400, 1))
    lo, hi = percentile_range(hr)
    clean = degrade(hr, degradation_spec("none"), rng)
    noisy = degrade(hr, degradation_spec("em"), rng)
    # sigma 3 on the 0-255 scale, averaged over 4 HR pixels -> 1.5 on the LR 0-255 scale
    resid = (noisy - clean) / (hi - lo) * 255
    assert resid.std() == pytest.approx(1.5, rel=0.05)
    fl = (degrade(hr, degradation_spec("fluo"), rng) - clean) / (hi - lo) * 255
    assert fl.std() > 2.5  # sigma 5 / 2 plus salt-and-pepper outliers
    assert degradation_spec("fluo").to_card() == {"recipe": "fluo", "gaussianSigma": 5.0, "saltPepper": 0.005,
                                                  "poissonPeak": None, "scale": 4, "sampling": "centre-mean-2x2",
                                                  "percentiles": [0.1, 99.9]}
    po = degrade(hr, degradation_spec("poisson"), rng)
    assert np.isfinite(po).all() and not np.allclose(po, clean)


def test_dihedral_commutes_with_degradation():
    rng = np.random.default_rng(3)
    hr = rng.random((32, 32))
    none = degradation_spec("none")
    for k in range(8):
        a = degrade(_dihedral(hr, k), none, rng, (0.0, 1.0))
        b = _dihedral(degrade(hr, none, rng, (0.0, 1.0)), k)
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_frame_window_mirrors_without_repeating_edge():
    assert frame_window(0, 10, 5) == [2, 1, 0, 1, 2]
    assert frame_window(9, 10, 5) == [7, 8, 9, 8, 7]
    assert frame_window(4, 10, 5) == [2, 3, 4, 5, 6]
    assert frame_window(0, 2, 5) == [1, 1, 0, 1, 0]  # n -> n-2 = 0
    assert frame_window(0, 1, 5) == [0, 0, 0, 0, 0]  # clamped for very short stacks
    assert frame_window(3, 10, 1) == [3]


def test_to_dtype_rounds_half_away_and_clips():
    assert to_dtype(np.array([-0.5, 0.5, 1.5, 254.5, 300.0]), np.uint8).tolist() == [0, 1, 2, 255, 255]
    assert to_dtype(np.array([2.5]), np.uint16).tolist() == [3]
