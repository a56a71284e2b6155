"""RobustSmoothClipScaler: RealMLP-TD's robust scaling and smooth clipping.

Values are checked against hand computations and against numbers that
pytabkit itself produced (pytabkit is never imported here).
"""

import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastbp
from fastbp import BackpropClassifier, RobustSmoothClipScaler

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

DTYPES = (np.float32, np.float64)
# what each dtype's outputs (|output| < 3) may be off by: a few ulps at 3
ATOL = {np.float32: 1e-6, np.float64: 1e-14}


def smooth_clip(z, bound=3.0):
    """The clip as written in the paper, evaluated in float64."""
    z = np.asarray(z, dtype=np.float64)
    return z / np.sqrt(1 + (z / bound) ** 2)


@parametrize_with_checks([RobustSmoothClipScaler(), RobustSmoothClipScaler(clip_bound=None)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --- the statistics and the output, by hand -------------------------------

# feature 0 has an IQR; feature 1 is mostly 0 (IQR 0, so half its range);
# feature 2 is constant. Five rows: the quartiles fall on rows, no
# interpolation: sorted feature 0 is 1, 2, 3, 4, 50
X_HAND = np.array(
    [
        [1.0, 0.0, 7.0],
        [2.0, 0.0, 7.0],
        [3.0, 0.0, 7.0],
        [4.0, 0.0, 7.0],
        [50.0, 1.0, 7.0],
    ]
)
CENTER_HAND = [3.0, 0.0, 7.0]  # medians
SCALE_HAND = [1 / (4 - 2), 1 / ((1 - 0) / 2), 0.0]  # 1/IQR, 1/half range, constant


@pytest.mark.parametrize("dtype", DTYPES)
def test_statistics_and_output_by_hand(dtype):
    X = X_HAND.astype(dtype)
    scaler = RobustSmoothClipScaler().fit(X)
    assert scaler.center_.dtype == dtype and scaler.scale_.dtype == dtype
    np.testing.assert_array_equal(scaler.center_, CENTER_HAND)
    np.testing.assert_allclose(scaler.scale_, SCALE_HAND, rtol=1e-15)
    out = scaler.transform(X)
    assert out.dtype == dtype
    z = (X_HAND - CENTER_HAND) * SCALE_HAND
    np.testing.assert_allclose(out, smooth_clip(z), rtol=0, atol=ATOL[dtype])
    # two numbers written out: (50 - 3) / 2 = 23.5 and (1 - 0) * 2 = 2
    np.testing.assert_allclose(
        out[4, :2], [23.5 / np.sqrt(1 + 23.5**2 / 9), 2 / np.sqrt(13 / 9)], atol=ATOL[dtype]
    )
    np.testing.assert_array_equal(out[:, 2], 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_quantiles_interpolate_linearly(dtype):
    # four rows: q25, q50, q75 sit at positions 0.75, 1.5, 2.25 of 1, 2, 3, 100
    X = np.array([[1.0], [2.0], [3.0], [100.0]], dtype=dtype)
    scaler = RobustSmoothClipScaler().fit(X)
    q25, q50, q75 = 1 + 0.75 * 1, 2 + 0.5 * 1, 3 + 0.25 * 97
    np.testing.assert_array_equal(scaler.center_, [q50])
    np.testing.assert_allclose(scaler.scale_, [1 / (q75 - q25)], rtol=1e-7)


def test_fit_transform_equals_fit_then_transform():
    X = np.random.default_rng(0).standard_normal((30, 4))
    np.testing.assert_array_equal(
        RobustSmoothClipScaler().fit_transform(X), RobustSmoothClipScaler().fit(X).transform(X)
    )


# --- pytabkit's own numbers ------------------------------------------------

# X_PYTABKIT's rows were given to pytabkit 1.8.0's PreprocessingFactory(
# tfms=["median_center", "robust_scale", "smooth_clip"]) (RealMLP-TD's tfms
# without one-hot and embedding, default smooth_clip_max_abs_value=3),
# fitted with fit_transform on a DictDataset {"x_cont": torch tensor} and
# applied to X_PYTABKIT_NEW; torch 2.14.1, CPU, in a throwaway venv, once.
# These are its outputs, printed with 17 significant digits.
X_PYTABKIT = np.array(
    [
        [1.0, 0.0, 7.0, -2.5],
        [2.0, 0.0, 7.0, 0.25],
        [3.0, 0.0, 7.0, 0.25],
        [4.0, 0.0, 7.0, 1.0],
        [50.0, 1.0, 7.0, 8.0],
        [-6.0, 0.0, 7.0, 0.25],
        [2.5, 0.0, 7.0, -0.75],
    ]
)
X_PYTABKIT_NEW = np.array([[1e3, 5.0, 8.0, -40.0], [-1e3, -5.0, 6.0, 0.0], [2.75, 0.5, 7.0, 0.25]])
PYTABKIT_OUT = {
    np.float32: (
        [
            [-0.7276069, 0.0, 0.0, -2.1700666],
            [-0.24913643, 0.0, 0.0, 0.0],
            [0.24913643, 0.0, 0.0, 0.0],
            [0.7276069, 0.0, 0.0, 0.82416344],
            [2.976349, 1.6641006, 0.0, 2.8414338],
            [-2.4509037, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, -1.0679861],
        ],
        [
            [2.9999456, 2.8734787, 0.0, -2.9936404],
            [-2.9999464, -2.8734787, -0.0, -0.2844273],
            [0.12489163, 0.9486833, 0.0, 0.0],
        ],
    ),
    np.float64: (
        [
            [-0.7276068751089989, 0.0, 0.0, -2.170066632430716],
            [-0.24913643956121995, 0.0, 0.0, 0.0],
            [0.24913643956121995, 0.0, 0.0, 0.0],
            [0.7276068751089989, 0.0, 0.0, 0.824163383692134],
            [2.976349132873877, 1.6641005886756874, 0.0, 2.841433726883439],
            [-2.4509035897942852, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, -1.0679859827759637],
        ],
        [
            [2.9999457304567416, 2.8734788556634543, 0.0, -2.9936403178974555],
            [-2.9999462704343323, -2.8734788556634543, -0.0, -0.28442727788398636],
            [0.124891634136544, 0.9486832980505138, 0.0, 0.0],
        ],
    ),
}


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_pytabkit(dtype):
    train, new = PYTABKIT_OUT[dtype]
    scaler = RobustSmoothClipScaler().fit(X_PYTABKIT.astype(dtype))
    np.testing.assert_allclose(scaler.transform(X_PYTABKIT.astype(dtype)), train, rtol=0, atol=ATOL[dtype])
    np.testing.assert_allclose(scaler.transform(X_PYTABKIT_NEW.astype(dtype)), new, rtol=0, atol=ATOL[dtype])


# --- the fallbacks ----------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_iqr_falls_back_to_half_the_range(dtype):
    X = np.array([[5.0], [5.0], [5.0], [5.0], [5.0], [1.0], [9.0]], dtype=dtype)
    scaler = RobustSmoothClipScaler(clip_bound=None).fit(X)
    np.testing.assert_array_equal(scaler.center_, [5])
    np.testing.assert_array_equal(scaler.scale_, [1 / 4])  # (9 - 1) / 2 = 4
    # the range [min, max] lands on [-1, 1]
    np.testing.assert_array_equal(scaler.transform(X).ravel(), [0, 0, 0, 0, 0, -1, 1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_samples", [1, 2, 10])
def test_constant_feature_becomes_zero(dtype, n_samples):
    X = np.full((n_samples, 2), 3.5, dtype=dtype)
    X[:, 1] = np.arange(n_samples)  # a varying feature beside it
    scaler = RobustSmoothClipScaler().fit(X)
    assert scaler.center_[0] == 3.5 and scaler.scale_[0] == 0
    X_new = np.array([[-1e30, 0.0], [3.5, 0.0], [1e30, 0.0]], dtype=dtype)
    out = scaler.transform(X_new)
    np.testing.assert_array_equal(out[:, 0], 0)
    assert np.isfinite(out).all()


def test_a_tiny_spread_does_not_overflow_the_clip():
    # spread 1e-30: a value far away overflows z = (x - c) * scale in float32;
    # the clip still maps it to the bound rather than to NaN
    X = np.array([[0.0], [1e-30], [2e-30], [3e-30]], dtype=np.float32)
    scaler = RobustSmoothClipScaler().fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = scaler.transform(np.array([[1e10], [-1e10], [1.5e-30]], dtype=np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [3, -3, 0], atol=1e-6)


# --- the clip ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bound", [0.5, 3.0, 10.0])
def test_clip_is_bounded_odd_and_increasing(dtype, bound):
    X = np.linspace(-1.0, 1.0, 11, dtype=dtype)[:, None]  # median 0, IQR 1
    scaler = RobustSmoothClipScaler(clip_bound=bound).fit(X)
    z = np.concatenate([-np.logspace(30, -30, 61), [0.0], np.logspace(-30, 30, 61)]).astype(dtype)
    out = scaler.transform(z[:, None]).ravel()
    assert np.all(np.abs(out) <= bound)  # < bound in exact arithmetic; rounds to it far out
    np.testing.assert_array_equal(out, -out[::-1])
    assert np.all(np.diff(out) >= 0)
    np.testing.assert_allclose(out, smooth_clip(z, bound), rtol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("bound", [None, np.inf])
def test_no_clip_is_the_robust_scaling_alone(bound):
    X = np.random.default_rng(1).standard_normal((40, 3)) * 100
    scaler = RobustSmoothClipScaler(clip_bound=bound).fit(X)
    np.testing.assert_array_equal(scaler.transform(X), (X - scaler.center_) * scaler.scale_)


# --- missing values ----------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_is_ignored_in_fit_and_kept_in_transform(dtype):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((50, 3)).astype(dtype)
    X_nan = X.copy()
    X_nan[rng.random(X.shape) < 0.2] = np.nan
    scaler = RobustSmoothClipScaler().fit(X_nan)
    for j in range(X.shape[1]):
        observed = X_nan[~np.isnan(X_nan[:, j]), j : j + 1]
        alone = RobustSmoothClipScaler().fit(observed)
        assert scaler.center_[j] == alone.center_[0] and scaler.scale_[j] == alone.scale_[0]
    out = scaler.transform(X_nan)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(X_nan))
    np.testing.assert_array_equal(out[~np.isnan(X_nan)], scaler.transform(X)[~np.isnan(X_nan)])


def test_a_feature_that_is_all_nan_becomes_zero_without_a_warning():
    X = np.array([[np.nan, 1.0], [np.nan, 2.0], [np.nan, 4.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaler = RobustSmoothClipScaler().fit(X)
        out = scaler.transform(np.array([[5.0, 2.0], [np.nan, 2.0]]))
    np.testing.assert_array_equal(scaler.center_, [0, 2])
    np.testing.assert_array_equal(scaler.scale_[0], 0)
    np.testing.assert_array_equal(out[:, 0], [0, np.nan])


# --- bad input ---------------------------------------------------------------


def test_sparse_input_is_refused_with_a_type_error():
    X = sparse.random(10, 3, density=0.5, format="csr", random_state=0)
    with pytest.raises(TypeError, match="dense data is required"):
        RobustSmoothClipScaler().fit(X)
    scaler = RobustSmoothClipScaler().fit(X.toarray())
    with pytest.raises(TypeError, match="dense data is required"):
        scaler.transform(X)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_input_is_refused(value):
    X = np.ones((4, 2))
    X[1, 1] = value
    with pytest.raises(ValueError, match="infinity"):
        RobustSmoothClipScaler().fit(X)
    with pytest.raises(ValueError, match="infinity"):
        RobustSmoothClipScaler().fit(np.ones((4, 2))).transform(X)


@pytest.mark.parametrize("bound", [0, -1.0, "3", [3.0]])
def test_bad_clip_bound_is_named(bound):
    with pytest.raises(ValueError, match="clip_bound"):
        RobustSmoothClipScaler(clip_bound=bound).fit(np.ones((3, 1)))


def test_wrong_number_of_features_is_refused():
    scaler = RobustSmoothClipScaler().fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="features"):
        scaler.transform(np.ones((3, 3)))


# --- dtypes and the caller's arrays -----------------------------------------


@pytest.mark.parametrize("fit_dtype", DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_output_is_in_the_dtype_of_the_input(fit_dtype, dtype):
    X = np.random.default_rng(3).standard_normal((20, 2))
    scaler = RobustSmoothClipScaler().fit(X.astype(fit_dtype))
    assert scaler.transform(X.astype(dtype)).dtype == dtype


def test_integer_input_gives_float64():
    X = np.arange(12).reshape(6, 2)
    scaler = RobustSmoothClipScaler().fit(X)
    assert scaler.center_.dtype == np.float64
    assert scaler.transform(X).dtype == np.float64


@pytest.mark.parametrize("order", ["C", "F"])
def test_callers_array_is_not_modified(order):
    X = np.asarray(np.random.default_rng(4).standard_normal((20, 3)), order=order)
    X[0, 0] = np.nan
    before = X.copy()
    scaler = RobustSmoothClipScaler().fit(X)
    out = scaler.transform(X)
    scaler.fit_transform(X)
    np.testing.assert_array_equal(X, before)
    assert not np.shares_memory(out, X)
    X.setflags(write=False)  # read-only input works too
    np.testing.assert_array_equal(RobustSmoothClipScaler().fit(X).transform(X), out)


# --- scikit-learn integration -----------------------------------------------


def test_pandas_in_and_out():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {"age": [20.0, 30.0, 40.0, 90.0], "income": [1.0, np.nan, 3.0, 4.0]}, index=[7, 8, 9, 10]
    )
    scaler = RobustSmoothClipScaler().set_output(transform="pandas").fit(df)
    np.testing.assert_array_equal(scaler.feature_names_in_, ["age", "income"])
    np.testing.assert_array_equal(scaler.get_feature_names_out(), ["age", "income"])
    out = scaler.transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["age", "income"] and list(out.index) == [7, 8, 9, 10]
    np.testing.assert_array_equal(
        out.to_numpy(), RobustSmoothClipScaler().fit(df.to_numpy()).transform(df.to_numpy())
    )
    assert np.isnan(out.loc[8, "income"])
    # columns in another order are refused by name
    with pytest.raises(ValueError, match="feature names"):
        scaler.transform(df[["income", "age"]])


def test_polars_out():
    pl = pytest.importorskip("polars")
    X = np.random.default_rng(5).standard_normal((10, 2))
    out = RobustSmoothClipScaler().set_output(transform="polars").fit_transform(X)
    assert isinstance(out, pl.DataFrame) and out.columns == ["x0", "x1"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_in_a_pipeline_with_backprop_classifier(dtype):
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X.astype(dtype), y, stratify=y, random_state=0)
    pipe = make_pipeline(
        RobustSmoothClipScaler(), BackpropClassifier(hidden_layer_sizes=(16,), max_iter=100, random_state=0)
    )
    pipe.fit(X_train, y_train)
    assert pipe[-1].coefs_[0].dtype == dtype
    assert pipe.predict_proba(X_test).dtype == dtype
    assert pipe.score(X_test, y_test) > 0.9


def test_clip_bound_can_be_searched():
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(RobustSmoothClipScaler(), BackpropClassifier(hidden_layer_sizes=(4,), max_iter=5))
    search = GridSearchCV(pipe, {"robustsmoothclipscaler__clip_bound": [1.0, 3.0, None]}, cv=2)
    search.fit(X[:200], y[:200])
    assert len(search.cv_results_["params"]) == 3


def test_saved_in_a_pipeline_with_skops():
    sio = pytest.importorskip("skops.io")
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(RobustSmoothClipScaler(), BackpropClassifier(hidden_layer_sizes=(4,), max_iter=5))
    pipe.fit(X, y)
    loaded = sio.loads(sio.dumps(pipe), trusted=fastbp.SKOPS_TRUSTED + ["sklearn.pipeline.Pipeline"])
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


def test_notebook_repr_links_the_api_page():
    url = RobustSmoothClipScaler()._get_doc_link()
    assert url == fastbp._base.DOCS_URL + "api/generated/fastbp.RobustSmoothClipScaler.html"
