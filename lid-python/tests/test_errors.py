"""Bad input becomes a Python exception with the library's message, never a crash."""

import numpy as np
import pytest

import lid
from lid import _as_points
from lid.skdim import TwoNN

X = np.random.default_rng(0).standard_normal((300, 6)).astype(np.float32)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_, np.complex64, object])
@pytest.mark.parametrize("call", ["local", "global", "knn"])
def test_non_float_dtypes_raise_type_error(dtype, call):
    bad = X.astype(dtype)
    with pytest.raises(TypeError, match="dtype"):
        {"local": lambda: lid.local_dimensions(bad),
         "global": lambda: lid.global_dimension(bad),
         "knn": lambda: lid.knn(bad, 3)}[call]()


@pytest.mark.parametrize("shape", [(300,), (2, 150, 6), ()])
def test_shapes_other_than_2d_raise_value_error(shape):
    bad = np.zeros(shape, dtype=np.float32) if shape else np.float32(1.0)
    with pytest.raises(ValueError, match="2-D"):
        lid.local_dimensions(bad)


def test_empty_and_zero_width_clouds():
    with pytest.raises(ValueError, match="empty"):
        lid.knn(np.zeros((0, 3), np.float32), 1)
    with pytest.raises(ValueError, match="dimension 0"):
        lid.knn(np.zeros((5, 0), np.float32), 1)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_name_the_row_and_column(value):
    bad = X.copy()
    bad[7, 3] = value
    with pytest.raises(ValueError, match="non-finite value .* at row 7, column 3"):
        lid.local_dimensions(bad)
    with pytest.raises(ValueError, match="row 7, column 3"):
        lid.knn(bad, 3)


def test_float64_beyond_float32_range_is_refused_not_rounded_to_inf():
    bad = X.astype(np.float64)
    bad[0, 0] = 1e300
    with pytest.raises(ValueError, match="non-finite value inf at row 0, column 0"):
        lid.local_dimensions(bad)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(neighbors=300), "too few points"),
        (dict(neighbors=0), "have 0, need at least 3"),
        (dict(neighbors=2), "3"),
        (dict(discard=1.0), "discard_fraction"),
        (dict(discard=-0.1), "discard_fraction"),
        (dict(estimator="danco"), "estimator"),
        (dict(estimator="gride"), "global estimate only"),
        (dict(cdf="skdim"), "cdf"),
        (dict(knn="faiss"), "knn"),
        (dict(knn="kdtree", neighbors=10), None),
        (dict(sample=0), "sample"),
        (dict(neighbors=-1), "at least 0"),
    ],
)
def test_bad_settings_raise_value_error(kwargs, match):
    if match is None:  # a valid setting: must not raise
        lid.local_dimensions(X, **kwargs)
        return
    with pytest.raises(ValueError, match=match):
        lid.local_dimensions(X, **kwargs)


def test_kdtree_refuses_high_dimension_with_the_library_message():
    wide = np.random.default_rng(1).standard_normal((100, 40)).astype(np.float32)
    with pytest.raises(ValueError, match="k-d tree"):
        lid.knn(wide, 5, backend="kdtree")


def test_non_int_counts_raise_type_error():
    with pytest.raises(TypeError):
        lid.local_dimensions(X, neighbors=10.5)
    with pytest.raises(TypeError):
        lid.knn(X, True)


def test_duplicates_without_dedup_name_the_count():
    dup = np.vstack([X, X[:10]])
    with pytest.raises(ValueError, match="duplicate"):
        lid.local_dimensions(dup, neighbors=20, dedup=False)
    with pytest.raises(ValueError, match="duplicate"):
        TwoNN().fit(dup)


def test_skdim_unsupported_arguments_are_refused():
    with pytest.raises(ValueError, match="dist=True"):
        TwoNN(dist=True).fit(X)
    with pytest.raises(ValueError, match="precomputed_knn"):
        TwoNN().fit_pw(X, precomputed_knn=np.zeros((300, 5), int))
    with pytest.raises(ValueError, match="not fitted"):
        TwoNN().transform()


def test_float32_c_contiguous_input_is_not_copied():
    assert _as_points(X) is X
    assert _as_points(X[:, :3]) is not X  # a strided view is made contiguous


@pytest.mark.parametrize(
    "variant",
    [
        lambda x: x.astype(np.float64),
        lambda x: np.asfortranarray(x),
        lambda x: np.repeat(x, 2, axis=1)[:, ::2],
        lambda x: x.tolist(),
    ],
)
def test_other_layouts_and_dtypes_give_the_same_result(variant):
    ref = lid.local_dimensions(X, neighbors=20).values
    np.testing.assert_array_equal(lid.local_dimensions(variant(X), neighbors=20).values, ref)


class FakeTensor:
    """What lid needs of a torch tensor (detach, cpu, numpy), without torch."""

    def __init__(self, array):
        self.array = array
        self.dtype = "torch.float32"
        self.detached = False

    def detach(self):
        self.detached = True
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.array


def test_tensor_like_input_is_detached_and_used_without_a_copy():
    t = FakeTensor(X)
    ref = lid.local_dimensions(X, neighbors=20).values
    np.testing.assert_array_equal(lid.local_dimensions(t, neighbors=20).values, ref)
    assert t.detached and _as_points(FakeTensor(X)) is X
