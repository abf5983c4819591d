"""bench/weight_interpolation.py: trained encoder layers moved toward the packaged ones (WiSE-FT)."""

import torch

from bench.weight_interpolation import interpolate


def test_interpolation_runs_from_the_packaged_weights_to_the_trained_ones_in_the_trained_dtype():
    trained = {"layer.weight": torch.tensor([1.0, 3.0], dtype=torch.float16)}
    packaged = {"layer.weight": torch.tensor([0.0, -1.0]), "embeddings.weight": torch.tensor([5.0])}
    assert torch.equal(interpolate(trained, packaged, 1.0)["layer.weight"], trained["layer.weight"])
    assert torch.equal(interpolate(trained, packaged, 0.0)["layer.weight"], torch.tensor([0.0, -1.0]).half())
    half = interpolate(trained, packaged, 0.5)
    assert half["layer.weight"].dtype == torch.float16 and half["layer.weight"].tolist() == [0.5, 1.0]
    assert set(half) == {"layer.weight"}  # only what training changed; the rest stays the packaged encoder's
