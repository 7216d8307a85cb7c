"""ONNX export (opset 17, dynamic batch/height/width, input `lr`, output `hr`) and export-check.json.

export-check.json lets the TypeScript side (packages/inference verifyExport) run the ONNX file on a small
input and compare with what PyTorch computed:
{"format":"pssr-export-check/1","input":{"name":"lr","shape":[N,F,h,w],"dtype":"float32","encoding":"base64-f32le","data":"..."},
 "output":{"name":"hr","shape":[N,1,4h,4w],...same...},"tolerance":1e-3,"torch":"<version>"}
"""
from __future__ import annotations

import base64
import hashlib
import json
import os

import numpy as np
import torch

OPSET = 17


def export_onnx(model: torch.nn.Module, frames: int, path: str) -> None:
    model = model.eval().cpu()
    dummy = torch.zeros(1, frames, 32, 32)
    torch.onnx.export(
        model, dummy, path, opset_version=OPSET, input_names=["lr"], output_names=["hr"],
        dynamic_axes={"lr": {0: "N", 2: "h", 3: "w"}, "hr": {0: "N", 2: "H", 3: "W"}},
        do_constant_folding=True,
    )
    import onnx

    onnx.checker.check_model(onnx.load(path))


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def write_export_check(model: torch.nn.Module, x: np.ndarray, path: str) -> None:
    """x: [N, F, h, w] normalised input (a real validation crop when there is one)."""
    model = model.eval().cpu()
    with torch.no_grad():
        y = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
    doc = {
        "format": "pssr-export-check/1",
        "input": {"name": "lr", "shape": list(x.shape), "dtype": "float32", "encoding": "base64-f32le", "data": _b64(x)},
        "output": {"name": "hr", "shape": list(y.shape), "dtype": "float32", "encoding": "base64-f32le", "data": _b64(y)},
        "tolerance": 1e-3,
        "torch": torch.__version__,
    }
    with open(path, "w") as f:
        json.dump(doc, f)


def read_check_array(part: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(part["data"]), dtype="<f4").reshape(part["shape"])


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_weights(model: torch.nn.Module, arch: dict, frames: int, path: str) -> None:
    """PyTorch weights beside the ONNX file, so `--init DIR` can fine-tune from it."""
    torch.save({"format": "pssr-weights/1", "architecture": arch, "frames": frames,
                "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}, path)


def atomic_write_json(obj: dict, path: str) -> None:
    tmp = path + ".partial"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
