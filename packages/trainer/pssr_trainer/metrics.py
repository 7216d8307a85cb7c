"""Quality metrics per CONTRACTS: against the HR reference in its own scale, data_range = max - min of the
reference frame, float64; SSIM as scikit-image structural_similarity defaults (7x7 uniform window)."""
from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def data_range(reference: np.ndarray) -> float:
    r = float(np.max(reference)) - float(np.min(reference))
    return r if r > 0 else 1.0


def psnr(reference: np.ndarray, test: np.ndarray, dr: float = None) -> float:
    ref = np.asarray(reference, dtype=np.float64)
    return float(peak_signal_noise_ratio(ref, np.asarray(test, dtype=np.float64), data_range=dr if dr is not None else data_range(ref)))


def ssim(reference: np.ndarray, test: np.ndarray, dr: float = None) -> float:
    ref = np.asarray(reference, dtype=np.float64)
    return float(structural_similarity(ref, np.asarray(test, dtype=np.float64), data_range=dr if dr is not None else data_range(ref)))
