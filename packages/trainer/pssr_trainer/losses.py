"""Training losses: MSE (default, as PSSR), L1, and an SSIM-based loss (0.84 (1 - SSIM) + 0.16 L1, Zhao et al.)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def ssim_map(x: torch.Tensor, y: torch.Tensor, win: int = 7, data_range: float = 1.0) -> torch.Tensor:
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x = F.avg_pool2d(x, win, 1)
    mu_y = F.avg_pool2d(y, win, 1)
    n = win * win
    cov = n / (n - 1)  # sample covariance, as scikit-image
    sxx = (F.avg_pool2d(x * x, win, 1) - mu_x ** 2) * cov
    syy = (F.avg_pool2d(y * y, win, 1) - mu_y ** 2) * cov
    sxy = (F.avg_pool2d(x * y, win, 1) - mu_x * mu_y) * cov
    return ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))


def make_loss(name: str):
    if name == "mse":
        return lambda a, b: F.mse_loss(a, b)
    if name == "l1":
        return lambda a, b: F.l1_loss(a, b)
    if name == "ssim":
        return lambda a, b: 0.84 * (1 - ssim_map(a, b).mean()) + 0.16 * F.l1_loss(a, b)
    raise ValueError(f"unknown loss {name!r}")
