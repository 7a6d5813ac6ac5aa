"""Shared fixtures: the committed scikit-dimension goldens of lid-core (tools/golden/)."""

from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parents[2] / "lid-core" / "tests" / "fixtures" / "golden"


def golden(name: str) -> np.ndarray:
    """A committed fixture, ``lid-core/tests/fixtures/golden/{name}.npy``."""
    return np.load(GOLDEN / f"{name}.npy")


@pytest.fixture(params=["union", "ball"])
def cloud_name(request) -> str:
    """The two golden clouds: 800 x 256 union of manifolds, 600 x 16 5-d ball."""
    return request.param
