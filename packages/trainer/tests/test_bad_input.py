"""Bad training input: one clear line ({"event":"error","code":"TRAIN_BAD_INPUT"}) and exit status 2."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from conftest import TRAINER, synthetic_hr
from pssr_trainer.__main__ import main


def train(capsys, tmp_path, **config):
    cfg = {"modality": "fluo", "frames": 1, "out": str(tmp_path / "out"), "steps": 1, "tile": 16, **config}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    status = main(["train", "--config", str(path)])
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines() if l.startswith("{")]
    err = lines[-1]
    assert err["event"] == "error"
    assert "\n" not in err["message"] and len(err["message"]) < 300
    assert not os.path.exists(tmp_path / "out" / "model.onnx")
    return status, err


def test_empty_folder(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    status, err = train(capsys, tmp_path, data=[str(tmp_path / "empty")])
    assert status == 2 and err["code"] == "TRAIN_BAD_INPUT"
    assert "empty" in err["message"] and "no TIFF images" in err["message"]


def test_missing_path(capsys, tmp_path):
    status, err = train(capsys, tmp_path, data=[str(tmp_path / "nope")])
    assert status == 2 and "no such file or folder" in err["message"]


def test_image_smaller_than_a_tile(capsys, tmp_path):
    tifffile.imwrite(str(tmp_path / "small.tif"), synthetic_hr(40, 48, 1))
    status, err = train(capsys, tmp_path, data=[str(tmp_path / "small.tif")])
    assert status == 2 and "small.tif: image is 48x40 pixels, smaller than one training tile (64x64" in err["message"]


def test_mixed_shapes_in_five_frame_series(capsys, tmp_path):
    d = tmp_path / "series"
    d.mkdir()
    for i, (h, w) in enumerate([(96, 96), (96, 96), (100, 96)]):
        tifffile.imwrite(str(d / f"t{i}.tif"), synthetic_hr(h, w, i))
    status, err = train(capsys, tmp_path, data=[str(d)], frames=5)
    assert status == 2 and "differ in size" in err["message"] and "t2.tif 96x100" in err["message"]


def test_nan_pixels(capsys, tmp_path):
    a = synthetic_hr(96, 96, 3, dtype=np.float32)
    stack = np.stack([a, a.copy()])
    stack[1, 10, 10] = np.nan
    tifffile.imwrite(str(tmp_path / "nan.tif"), stack)
    status, err = train(capsys, tmp_path, data=[str(tmp_path / "nan.tif")])
    assert status == 2 and "nan.tif: frame 1 contains NaN" in err["message"]


def test_not_a_tiff(capsys, tmp_path):
    (tmp_path / "fake.tif").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    status, err = train(capsys, tmp_path, data=[str(tmp_path / "fake.tif")])
    assert status == 2 and "cannot read as TIFF" in err["message"]


def test_multichannel_needs_a_channel(capsys, tmp_path):
    rgb = np.stack([synthetic_hr(96, 96, i) for i in range(3)], axis=-1)
    tifffile.imwrite(str(tmp_path / "rgb.tif"), rgb, photometric="rgb")
    status, err = train(capsys, tmp_path, data=[str(tmp_path / "rgb.tif")])
    assert status == 2 and "3 channels" in err["message"] and "'channel'" in err["message"]


def test_single_images_for_five_frames(capsys, tmp_path):
    tifffile.imwrite(str(tmp_path / "one.tif"), synthetic_hr(96, 96, 1))
    status, err = train(capsys, tmp_path, data=[str(tmp_path / "one.tif")], frames=5)
    assert status == 2 and "at least 3 frames" in err["message"]


@pytest.mark.parametrize("bad,needle", [({"modality": "xray"}, "'modality'"), ({"frames": 3}, "'frames'"),
                                        ({"steps": -1}, "'steps'"), ({"arch": "vgg"}, "'arch'"),
                                        ({"data": []}, "'data'"), ({"tile": 12}, "'tile'"),
                                        ({"ema": 1.5}, "'ema'"), ({"phaseJitter": "yes"}, "'phaseJitter'")])
def test_bad_config_values(capsys, tmp_path, bad, needle):
    tifffile.imwrite(str(tmp_path / "ok.tif"), synthetic_hr(96, 96, 1))
    status, err = train(capsys, tmp_path, **{"data": [str(tmp_path / "ok.tif")], **bad})
    assert status == 2 and needle in err["message"]


def test_cli_exit_status_two_on_bad_input(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"data": [str(tmp_path / "missing")], "modality": "em", "frames": 1, "out": str(tmp_path / "o")}))
    p = subprocess.run([sys.executable, "-m", "pssr_trainer", "train", "--config", str(cfg)],
                       env={**os.environ, "PYTHONPATH": TRAINER}, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    last = json.loads(p.stdout.strip().splitlines()[-1])
    assert last == {"event": "error", "code": "TRAIN_BAD_INPUT", "message": f"{tmp_path / 'missing'}: no such file or folder"}
    assert "Traceback" not in p.stderr
