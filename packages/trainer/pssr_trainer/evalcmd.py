"""Evaluate a trained model (its weights.pt) on the held-out split a training config defines."""
from __future__ import annotations

import numpy as np
import torch

from .data import split_data
from .degrade import degradation_spec
from .evaluate import build_val_frames, evaluate_frames
from .nets import build_network
from .train import parse_config, pick_device, resolve_init


def evaluate_model(model_dir: str, raw: dict, only=()) -> dict:
    c = parse_config(raw)
    if c["threads"]:
        torch.set_num_threads(int(c["threads"]))
    ckpt = torch.load(resolve_init(model_dir), map_location="cpu")
    a = ckpt["architecture"]
    model = build_network(a["name"], int(ckpt["frames"]), width=int(a.get("width", 48)), depth=int(a.get("depth", 8)),
                          base=int(a.get("base", 32)))
    model.load_state_dict(ckpt["state_dict"])
    device = pick_device(c["device"])
    model.to(device)
    spec = degradation_spec(c["recipe"], float(c.get("poissonPeak") or 30.0))
    rng = np.random.default_rng(int(c["seed"]))
    split = split_data(c["data"], c["valData"], float(c["valFraction"]), c["channel"], int(c["frames"]),
                       int(c["tile"]) * 4, spec, rng)
    val = [s for s in split.val if not only or any(o in s.name for o in only)]
    vf = build_val_frames(val, spec, int(ckpt["frames"]), int(c["valSeed"]))
    res = evaluate_frames(model, vf, device)
    res["model"] = model_dir
    res["inputFrames"] = int(ckpt["frames"])
    res["validation"] = [f"{s.name} {s.label}".strip() for s in val]
    return res
