"""`valset`: the held-out validation series of a config, written as HR TIFFs for `pssr calibrate`."""
import json

import numpy as np
import tifffile

from conftest import synthetic_hr
from pssr_trainer.__main__ import main
from pssr_trainer.valset import write_valset


def test_valset_writes_exactly_the_split_training_holds_out(tmp_path):
    stack = np.stack([synthetic_hr(160, 176, k) for k in range(10)])  # a 10-frame series: last 2 held out
    single = synthetic_hr(320, 176, 42)  # a single image: a bottom strip held out
    tifffile.imwrite(str(tmp_path / "series.tif"), stack)
    tifffile.imwrite(str(tmp_path / "single.tif"), single)
    out = tmp_path / "val"
    listing = write_valset({"data": [str(tmp_path / "series.tif"), str(tmp_path / "single.tif")], "modality": "em",
                            "valFraction": 0.2, "tile": 16}, str(out))
    parts = {s["series"].split("/")[-1]: s for s in listing["series"]}
    assert parts["series.tif"]["part"] == "frames 8..9"
    np.testing.assert_array_equal(tifffile.imread(str(out / parts["series.tif"]["file"])), stack[8:])
    strip = parts["single.tif"]
    assert strip["part"] == "rows 256..319"
    np.testing.assert_array_equal(tifffile.imread(str(out / strip["file"])), single[256:320])
    assert json.loads((out / "valset.json").read_text()) == listing


def test_valset_command_reports_bad_configs_as_user_errors(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"data": [str(tmp_path / "missing")], "modality": "em"}))
    assert main(["valset", "--config", str(cfg), "--out", str(tmp_path / "v")]) == 2
    assert "no such file or folder" in capsys.readouterr().out
