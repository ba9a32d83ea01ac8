"""Tiny models and structures for the explanation tests."""

from __future__ import annotations

import torch

from metalegnet import LegNet, LegNetConfig


def tiny_model(variant: str = "full", seed: int = 0) -> LegNet:
    torch.manual_seed(seed)
    model = LegNet(LegNetConfig(variant=variant, cutoff=4.5, num_features=8, num_blocks=1,
                                voxel_sizes=(4.0,)))
    model.normalization.set(scale=0.5, shift_atom=-1.0, known_elements=[1, 6, 8, 29, 78])
    return model.eval()
