"""PSSR trainer: HR stacks -> degraded LR tiles -> network -> ONNX + model card (docs/CONTRACTS.md)."""
__version__ = "0.1.0"
