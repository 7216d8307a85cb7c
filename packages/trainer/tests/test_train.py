"""A few-step training of a tiny network over the subprocess protocol: loss goes down, ONNX is exported,
the export check agrees with the saved PyTorch weights, and the card has what CONTRACTS asks for."""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
import tifffile
import torch

from conftest import REPO, TRAINER, synthetic_hr
from pssr_trainer.data import TileSampler, split_data
from pssr_trainer.degrade import degradation_spec
from pssr_trainer.export import read_check_array
from pssr_trainer.nets import build_network


def run_cli(config: dict, tmp_path, name="config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": TRAINER}
    p = subprocess.run([sys.executable, "-m", "pssr_trainer", "train", "--config", str(path)], env=env,
                       capture_output=True, text=True, timeout=300, cwd=REPO)
    events = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    return p, events


def fixed_batch(paths, frames=1):
    spec = degradation_spec("fluo")
    rng = np.random.default_rng(123)
    split = split_data(paths, None, 0.0, None, frames, 64, spec, rng)
    return TileSampler(split.train, frames, 16, spec, rng).sample(32)


@pytest.fixture
def tiny_config(tiny_dataset, tmp_path):
    val = tmp_path / "val"
    val.mkdir()
    tifffile.imwrite(str(val / "v.tif"), synthetic_hr(128, 128, 99))
    return {
        "data": [str(tiny_dataset)], "valData": [str(val)], "modality": "fluo", "frames": 1,
        "out": str(tmp_path / "model"), "steps": 60, "width": 8, "depth": 1, "tile": 16, "batch": 8,
        "lr": 0.003, "threads": 2, "seed": 7, "validations": 3, "name": "tiny",
    }


def test_phase_jitter_samples_every_4x_phase(tiny_dataset):
    spec = degradation_spec("fluo")
    split = split_data([str(tiny_dataset)], None, 0.0, None, 1, 64, spec, np.random.default_rng(0))
    fr = split.train[0].frames[0]
    for any_phase, phases in ((False, {(0, 0)}), (True, {(a, b) for a in range(4) for b in range(4)})):
        sampler = TileSampler(split.train, 1, 16, spec, np.random.default_rng(1), any_phase=any_phase)
        seen = {(y % 4, x % 4) for y, x in (sampler._position(fr) for _ in range(400))}
        assert seen == phases
        xs, ys = sampler.sample(4)
        assert xs.shape == (4, 1, 16, 16) and ys.shape == (4, 1, 64, 64) and np.isfinite(xs).all()


def test_tiny_training_lowers_loss_and_exports(tiny_config, tiny_dataset, tmp_path):
    p, events = run_cli(tiny_config, tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and all({"step", "steps", "loss", "lr", "elapsed", "eta"} <= set(e) for e in progress)
    assert progress[-1]["step"] == 60
    vals = [e for e in events if e["event"] == "validation"]
    assert len(vals) >= 3 and vals[-1].get("final") is True
    assert {"psnr", "ssim", "bilinearPsnr", "bicubicPsnr"} <= set(vals[-1])

    out = tiny_config["out"]
    card = json.load(open(os.path.join(out, "model.json")))
    assert card == events[-1]["card"]
    for key in ("name", "version", "sha256", "modality", "scale", "inputFrames", "inputPixelSize", "tile",
                "normalization", "degradation", "architecture", "training", "validation", "export", "execution"):
        assert key in card, key
    assert card["modality"] == "fluorescence" and card["scale"] == 4 and card["inputFrames"] == 1
    assert card["degradation"]["recipe"] == "fluo" and card["degradation"]["saltPepper"] == 0.005
    tile = card["tile"]
    assert tile["halo"] >= card["architecture"]["receptiveFieldLR"]
    assert tile["size"] % tile["multiple"] == 0 and tile["halo"] % tile["multiple"] == 0
    assert card["training"]["steps"] == 60 and card["training"]["seed"] == 7
    assert set(card["validation"]["psnr"]) == {"model", "bilinear", "bicubic"}
    assert card["export"]["opset"] == 17

    # the loss went down: trained weights vs the same seeded initial network on a fixed batch
    xs, ys = fixed_batch([str(tiny_dataset)])
    torch.manual_seed(7)
    init = build_network("fast", 1, width=8, depth=1)
    ck = torch.load(os.path.join(out, "weights.pt"))
    trained = build_network("fast", 1, width=8, depth=1)
    trained.load_state_dict(ck["state_dict"])
    with torch.no_grad():
        x, y = torch.from_numpy(xs), torch.from_numpy(ys)
        before = float(((init.eval()(x) - y) ** 2).mean())
        after = float(((trained.eval()(x) - y) ** 2).mean())
    assert after < 0.9 * before, (before, after)

    # ONNX: opset 17, input lr / output hr, dynamic N, h, w
    m = onnx.load(os.path.join(out, "model.onnx"))
    assert any(o.domain in ("", "ai.onnx") and o.version == 17 for o in m.opset_import)
    (inp,), (outp,) = m.graph.input, m.graph.output
    assert inp.name == "lr" and outp.name == "hr"
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims[1] == 1 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3]))

    # export-check.json holds what these weights compute (onnxruntime compares the ONNX side in TS tests)
    chk = json.load(open(os.path.join(out, "export-check.json")))
    xin = read_check_array(chk["input"])
    want = read_check_array(chk["output"])
    assert xin.shape[0] == 2 and xin.shape[2] % 8 == 0 and want.shape == (2, 1, 4 * xin.shape[2], 4 * xin.shape[3])
    with torch.no_grad():
        got = trained(torch.from_numpy(xin.copy())).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_five_frame_training_and_init_finetune(tmp_path):
    stack = np.stack([synthetic_hr(96, 96, 5, shift=t * 1.0) for t in range(8)])
    tifffile.imwrite(str(tmp_path / "tl.tif"), stack)
    base = {"data": [str(tmp_path / "tl.tif")], "modality": "fluo", "frames": 5, "valFraction": 0.25,
            "out": str(tmp_path / "mf"), "steps": 6, "width": 8, "depth": 1, "tile": 16, "batch": 4,
            "threads": 2, "validations": 1}
    p, events = run_cli(base, tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    card = events[-1]["card"]
    assert card["inputFrames"] == 5
    assert "frames 6..7" in card["validation"]["data"]  # the later part of the time-lapse is held out
    chk = json.load(open(tmp_path / "mf" / "export-check.json"))
    assert chk["input"]["shape"][1] == 5

    tuned = {**base, "out": str(tmp_path / "mf2"), "init": str(tmp_path / "mf"), "steps": 3}
    p, events = run_cli(tuned, tmp_path, "tuned.json")
    assert p.returncode == 0, p.stderr[-2000:]
    assert events[-1]["card"]["training"]["initFrom"] == str(tmp_path / "mf")

    # a larger width/depth grows the init network; 'ema' exports the averaged weights
    grow = {**tuned, "out": str(tmp_path / "mf4"), "width": 12, "depth": 2, "ema": 0.9}
    p, events = run_cli(grow, tmp_path, "grow.json")
    assert p.returncode == 0, p.stderr[-2000:]
    tr = events[-1]["card"]["training"]
    assert tr["grownFrom"] == {"width": 8, "depth": 1}
    assert tr["weightAverage"] == {"kind": "ema", "decay": 0.9}
    assert events[-1]["card"]["architecture"]["width"] == 12 and events[-1]["card"]["architecture"]["depth"] == 2
    assert "grew the init network" in p.stderr

    shrink = {**tuned, "out": str(tmp_path / "mf5"), "init": str(tmp_path / "mf4"), "width": 8}
    p, events = run_cli(shrink, tmp_path, "shrink.json")
    assert p.returncode == 2 and "smaller than the init model" in events[-1]["message"]
    assert not (tmp_path / "mf5").exists()

    wrong = {**tuned, "frames": 1, "out": str(tmp_path / "mf3")}
    p, events = run_cli(wrong, tmp_path, "wrong.json")
    assert p.returncode == 2 and "5 input frame" in events[-1]["message"]
