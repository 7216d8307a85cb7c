"""Data sources (z ranges of ZYX stacks, pixel sizes, weights), the selection split, the scale / contrast /
noise augmentations and stopping a run early with SIGUSR1."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from conftest import REPO, TRAINER, synthetic_hr
from pssr_trainer.data import Augment, Source, TileSampler, parse_source, resample, split_data
from pssr_trainer.degrade import degradation_spec, downsample4
from pssr_trainer.errors import TrainInputError
from pssr_trainer.train import parse_config, trained_pixel_range


@pytest.fixture
def zyx_stack(tmp_path):
    """An ImageJ ZYX stack (as the FIB-SEM volumes are): 10 slices whose mean encodes the z index."""
    stack = np.stack([np.clip(synthetic_hr(128, 128, z).astype(np.float64) / 16 + 10 * z, 0, 255).astype(np.uint8)
                      for z in range(10)])
    path = tmp_path / "vol.tif"
    tifffile.imwrite(str(path), stack, imagej=True, metadata={"axes": "ZYX", "spacing": 0.02, "unit": "um"})
    return path, stack


def test_z_ranges_of_a_zyx_stack_are_2d_training_images(zyx_stack):
    path, stack = zyx_stack
    spec = degradation_spec("em")
    split = split_data([{"path": str(path), "z": [0, 5]}], [{"path": str(path), "z": [8, 9]}], 0.2, None, 1, 64,
                       spec, np.random.default_rng(0), select_paths=[{"path": str(path), "z": [7, 7]}])
    (train,), (val,), (sel,) = split.train, split.val, split.select
    assert len(train.frames) == 6 and len(val.frames) == 2 and len(sel.frames) == 1
    np.testing.assert_array_equal(train.frames[5].hr, stack[5].astype(np.float32))
    np.testing.assert_array_equal(val.frames[0].hr, stack[8].astype(np.float32))
    np.testing.assert_array_equal(sel.frames[0].hr, stack[7].astype(np.float32))
    assert split.descriptions["select"] == [f"{path} z 7..7"]
    assert split.descriptions["val"] == [f"{path} z 8..9 (2 frames)"]


def test_bad_source_entries_say_what_is_wrong(zyx_stack, tmp_path):
    path, _ = zyx_stack
    with pytest.raises(TrainInputError, match=r"'z' must be \[first, last\]"):
        parse_source({"path": str(path), "z": [5, 2]}, "data")
    with pytest.raises(TrainInputError, match="unknown key.*zrange.*allowed: path, z, pixelSize, weight"):
        parse_source({"path": str(path), "zrange": [0, 1]}, "data")
    with pytest.raises(TrainInputError, match="'weight' must be a positive number"):
        parse_source({"path": str(path), "weight": 0}, "valData")
    with pytest.raises(TrainInputError, match="outside the stack, which has slices 0..9"):
        split_data([{"path": str(path), "z": [4, 12]}], None, 0.2, None, 1, 64, degradation_spec("em"),
                   np.random.default_rng(0))
    base = {"data": [str(path)], "modality": "em", "out": str(tmp_path / "o")}
    with pytest.raises(TrainInputError, match="'selectData'.*needs 'valData'"):
        parse_config({**base, "selectData": [str(path)]})
    with pytest.raises(TrainInputError, match="'scaleRange' must be \\[low, high\\] with 1.0 <= low"):
        parse_config({**base, "scaleRange": [0.5, 2]})
    with pytest.raises(TrainInputError, match="'noiseSigma' must be"):
        parse_config({**base, "noiseSigma": [4, 2]})
    with pytest.raises(TrainInputError, match="'contrastJitter' must be a number in"):
        parse_config({**base, "contrastJitter": -0.1})


def test_pixel_range_of_the_card_covers_sources_and_scale():
    c = parse_config({"data": [{"path": "a", "pixelSize": 4.6}, {"path": "b", "pixelSize": 10}], "modality": "em",
                      "out": "o", "scaleRange": [1, 2]})
    assert trained_pixel_range(c) == {"min": 18.4, "max": 80.0, "unit": "nm"}
    assert trained_pixel_range(parse_config({"data": ["a"], "modality": "em", "out": "o"})) is None


def test_weighted_sources_get_their_share_of_tiles(tmp_path):
    big, small = tmp_path / "big", tmp_path / "small"
    big.mkdir()
    small.mkdir()
    tifffile.imwrite(str(big / "b.tif"), synthetic_hr(256, 256, 1))
    tifffile.imwrite(str(small / "s.tif"), synthetic_hr(64, 64, 2))
    spec = degradation_spec("fluo")
    for weights, want_small in (((None, None), 64 * 64 / (64 * 64 + 256 * 256)), ((0.5, 0.5), 0.5), ((0.2, 0.8), 0.8)):
        srcs = [Source(str(big), weight=weights[0]), Source(str(small), weight=weights[1])]
        split = split_data(srcs, None, 0.0, None, 1, 64, spec, np.random.default_rng(0))
        sampler = TileSampler(split.train, 1, 16, spec, np.random.default_rng(0))
        p_small = sum(p for (si, _), p in zip(sampler.items, sampler.p) if split.train[si].name.startswith(str(small)))
        assert p_small == pytest.approx(want_small)


def test_resample_is_an_antialiased_change_of_pixel_size():
    ramp = np.add.outer(np.arange(96.0), np.arange(96.0)).astype(np.float32)  # value = y + x
    out = resample(ramp, 32, 64)  # 64 px -> 32 px: pixel size x 2
    assert out.shape == (32, 32)
    # pixel centres: output pixel i covers source pixels 2i..2i+1, centre 2i + 0.5
    centre = np.add.outer(2 * np.arange(32) + 0.5, 2 * np.arange(32) + 0.5)
    np.testing.assert_allclose(out[4:-4, 4:-4], centre[4:-4, 4:-4], atol=1e-2)
    # a pattern at the source's Nyquist frequency is averaged away instead of aliasing into the result
    stripes = np.tile(np.array([0.0, 100.0], np.float32), (96, 48))
    assert np.ptp(resample(stripes, 32, 64)[4:-4, 4:-4]) < 1.0


def test_augmentations_change_tiles_as_configured(tmp_path):
    d = tmp_path / "hr"
    d.mkdir()
    tifffile.imwrite(str(d / "a.tif"), np.clip(synthetic_hr(512, 512, 3).astype(np.float64) / 16, 0, 255).astype(np.uint8))
    spec = degradation_spec("em")
    split = split_data([str(d)], None, 0.0, None, 1, 64, spec, np.random.default_rng(0))

    def tiles(aug, seed=5, n=64):
        return TileSampler(split.train, 1, 16, spec, np.random.default_rng(seed), augment=aug).sample(n)

    # noise sigma 0: the LR tile is exactly the noiseless 4x sampling of the HR target
    xs, ys = tiles(Augment(noise_sigma=(0.0, 0.0)))
    np.testing.assert_allclose(xs[:, 0], downsample4(ys[:, 0]), atol=1e-4)
    # the noise level follows the drawn sigma (residual of the LR tile against the noiseless sampling)
    fr = split.train[0].frames[0]
    scale = (fr.hr_range[1] - fr.hr_range[0]) / (fr.lr_range[1] - fr.lr_range[0]) / 255.0
    for lo, hi in ((2.0, 2.0), (6.0, 6.0)):
        xs, ys = tiles(Augment(noise_sigma=(lo, hi)))
        sigma = float(np.std(xs[:, 0] - downsample4(ys[:, 0]))) / scale
        assert sigma == pytest.approx(lo / 2, rel=0.1)  # the 2x2 mean of independent noise halves sigma
    # scale augmentation: on a ramp, 2x coarser pixels double the step between neighbours
    r = tmp_path / "ramp"
    r.mkdir()
    tifffile.imwrite(str(r / "r.tif"), (np.add.outer(np.arange(512.0), np.arange(512.0)) * 0.2).astype(np.float32))
    ramp = split_data([str(r)], None, 0.0, None, 1, 64, spec, np.random.default_rng(0)).train
    grad = lambda y: float(np.mean(np.abs(np.diff(y, axis=-1))) + np.mean(np.abs(np.diff(y, axis=-2))))
    steps = [grad(TileSampler(ramp, 1, 16, spec, np.random.default_rng(1), augment=Augment(scale_range=(s, s))).sample(8)[1])
             for s in (1.0, 2.0)]
    assert steps[1] == pytest.approx(2 * steps[0], rel=0.02)
    plain = tiles(Augment())[1]
    # contrast jitter: tile contrast varies around the plain tiles'
    stds = np.std(tiles(Augment(contrast_jitter=0.5))[1].reshape(64, -1), axis=1)
    plain_stds = np.std(plain.reshape(64, -1), axis=1)
    assert np.std(np.log(stds / plain_stds)) > 0.1


def test_selection_split_chooses_checkpoints_and_sigusr1_stops_early(zyx_stack, tmp_path):
    path, _ = zyx_stack
    cfg = {"data": [{"path": str(path), "z": [0, 5], "pixelSize": 10}], "modality": "em", "frames": 1,
           "selectData": [{"path": str(path), "z": [6, 7]}], "valData": [{"path": str(path), "z": [8, 9]}],
           "out": str(tmp_path / "m"), "steps": 100000, "width": 8, "depth": 1, "tile": 16, "batch": 2,
           "threads": 1, "validations": 100000, "scaleRange": [1, 1.5], "noiseSigma": [2, 4], "contrastJitter": 0.1}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    p = subprocess.Popen([sys.executable, "-m", "pssr_trainer", "train", "--config", str(tmp_path / "c.json")],
                         env={**os.environ, "PYTHONPATH": TRAINER}, cwd=REPO, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    lines = []
    for line in p.stdout:  # wait for a validated checkpoint, then ask the run to stop
        lines.append(line)
        if '"event": "validation"' in line:
            p.send_signal(signal.SIGUSR1)
            break
    rest, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-2000:]
    events = [json.loads(l) for l in lines + rest.splitlines() if l.startswith("{")]
    card = events[-1]["card"]
    tr = card["training"]
    assert tr["stoppedEarly"] is True and tr["steps"] < 100000
    assert tr["selection"] == f"{path} z 6..7 (2 frames)"
    assert card["validation"]["data"] == f"{path} z 8..9 (2 frames)"
    assert card["inputPixelSizeRange"] == {"min": 40.0, "max": 60.0, "unit": "nm"}
    assert "noise sigma U(2, 4)" in tr["augmentation"] and "1-1.5x the source pixel size" in tr["augmentation"]
    assert os.path.isfile(tmp_path / "m" / "best-weights.pt") and os.path.isfile(tmp_path / "m" / "model.onnx")
