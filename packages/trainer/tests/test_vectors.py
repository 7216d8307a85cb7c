"""The shared test vectors of packages/core (docs/CONTRACTS.md): the Python side must agree with them."""
import json
import os

import numpy as np
import pytest
import torch

from conftest import VECTORS
from pssr_trainer.degrade import (crop_to_scale, degradation_spec, degrade, percentile_range, upsample_bicubic4,
                                  upsample_bilinear4)
from pssr_trainer.metrics import psnr, ssim
from pssr_trainer.nets import bilinear4


def load(name):
    path = os.path.join(VECTORS, name + ".json")
    if not os.path.exists(path):
        pytest.skip(f"{path} not written yet by packages/core")
    with open(path) as f:
        return json.load(f)["cases"]


def test_degrade_none_matches_vectors():
    cases = load("degrade")
    for c in cases:
        hr = np.array(c["input"], dtype=c["dtype"]).reshape(c["height"], c["width"])
        lo, hi = percentile_range(crop_to_scale(hr), *c["percentiles"])  # cropped to multiples of 4 first
        assert lo == pytest.approx(c["lo"], abs=1e-9 * max(1, abs(c["lo"])))
        assert hi == pytest.approx(c["hi"], abs=1e-9 * max(1, abs(c["hi"])))
        lr = degrade(hr, degradation_spec("none"), np.random.default_rng(0))
        assert lr.shape == (c["lrHeight"], c["lrWidth"]), c["name"]
        np.testing.assert_allclose(lr.ravel(), np.array(c["expected"], dtype=np.float32), rtol=1e-6, atol=1e-5, err_msg=c["name"])


def test_upsampling_matches_vectors():
    for c in load("upsample"):
        src = np.array(c["input"], dtype=np.float32).reshape(c["height"], c["width"])
        want_bil = np.array(c["bilinear"], dtype=np.float64)
        want_bic = np.array(c["bicubic"], dtype=np.float64)
        np.testing.assert_allclose(upsample_bilinear4(src).ravel(), want_bil, atol=1e-6, err_msg=c["name"])
        np.testing.assert_allclose(upsample_bicubic4(src).ravel(), want_bic, atol=1e-6, err_msg=c["name"])
        # the network's skip path (exported as ONNX Resize half_pixel) is the same bilinear
        net = bilinear4(torch.from_numpy(src)[None, None]).numpy().ravel()
        np.testing.assert_allclose(net, want_bil, atol=1e-6, err_msg=c["name"])


def test_metrics_match_vectors():
    for c in load("metrics"):
        ref = np.array(c["reference"], dtype=np.float64).reshape(c["height"], c["width"])
        test = np.array(c["test"], dtype=np.float64).reshape(c["height"], c["width"])
        assert psnr(ref, test) == pytest.approx(c["psnr"], abs=1e-6), c["name"]
        assert ssim(ref, test) == pytest.approx(c["ssim"], abs=1e-6), c["name"]
        assert psnr(ref, test, c["dataRange"]) == pytest.approx(c["psnr"], abs=1e-6)


def test_percentiles_match_vectors():
    for c in load("percentiles"):
        got = np.percentile(np.array(c["values"], dtype=c["dtype"]).astype(np.float64), c["percentiles"])
        np.testing.assert_allclose(got, c["expected"], rtol=1e-9, atol=1e-9, err_msg=c["name"])
