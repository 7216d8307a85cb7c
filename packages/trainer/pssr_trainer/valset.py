"""`python3 -m pssr_trainer valset --config CONFIG.json --out DIR`: writes the held-out validation series a
training config defines (the same split training uses, data.split_data) as HR TIFF stacks, one per series,
plus DIR/valset.json listing them. The TypeScript side (`pssr calibrate`) degrades and restores them to
calibrate a model's trust statistics, so the split is defined in one place."""
from __future__ import annotations

import json
import os

import numpy as np

from .data import split_data
from .degrade import degradation_spec
from .train import parse_config


def write_valset(raw: dict, out: str) -> dict:
    import tifffile

    c = parse_config({**raw, "out": raw.get("out") or out})  # the model folder is not needed to list the data
    spec = degradation_spec(c["recipe"], float(c.get("poissonPeak") or 30.0))
    rng = np.random.default_rng(int(c["seed"]))
    split = split_data(c["data"], c["valData"], float(c["valFraction"]), c["channel"], int(c["frames"]),
                       int(c["tile"]) * 4, spec, rng)
    os.makedirs(out, exist_ok=True)
    series = []
    for k, s in enumerate(split.val):
        dtype = s.frames[0].dtype
        stack = np.stack([f.hr for f in s.frames])
        if dtype.kind in "ui":
            stack = np.clip(np.rint(stack), np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype)
        else:
            stack = stack.astype(np.float32)
        name = f"val-{k:02d}.tif"
        tifffile.imwrite(os.path.join(out, name), stack, imagej=stack.dtype != np.float64, metadata={"axes": "TYX"})
        series.append({"file": name, "series": s.name, "part": s.label, "frames": int(stack.shape[0]),
                       "height": int(stack.shape[1]), "width": int(stack.shape[2]), "dtype": str(stack.dtype)})
    listing = {"recipe": c["recipe"], "frames": int(c["frames"]), "series": series}
    with open(os.path.join(out, "valset.json"), "w") as f:
        json.dump(listing, f, indent=2)
    return listing
