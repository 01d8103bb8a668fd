from __future__ import annotations

import pickle

import numpy as np
import pytest

from powertrain.data import celeba, cifar10, fashion_mnist, pamap2
from powertrain.data.registry import load_dataset
from powertrain.errors import PowertrainError
from tests.fakes.datasets import (
    ATTRIBUTES,
    write_celeba,
    write_cifar10,
    write_fashion_mnist,
    write_idx,
    write_pamap2,
)


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("POWERTRAIN_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_idx_files_gzipped_or_not(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b", array, gz=False)
    assert (fashion_mnist.read_idx(tmp_path / "a.gz") == array).all()
    assert (fashion_mnist.read_idx(tmp_path / "b") == array).all()
    (tmp_path / "c").write_bytes((tmp_path / "b").read_bytes()[:-3])
    with pytest.raises(PowertrainError, match="truncated"):
        fashion_mnist.read_idx(tmp_path / "c")


def test_fashion_mnist_from_powertrain_data(data_root):
    write_fashion_mnist(data_root / "fashion-mnist")
    data = load_dataset("fashion-mnist", val_size=20)
    assert data.input_shape == (1, 28, 28)
    assert (len(data.train), len(data.val), len(data.test)) == (100, 20, 40)
    assert data.tasks["class"].num_classes == 10
    assert abs(float(data.train.x.mean())) < 1e-4  # standardised with training statistics


def test_missing_fashion_mnist_says_how_to_get_it(data_root, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", data_root / "nowhere")
    with pytest.raises(PowertrainError, match="powertrain demo --fetch"):
        fashion_mnist.load_fashion_mnist_arrays("train")


def test_cifar10_python_batches(data_root):
    write_cifar10(data_root / "cifar10")
    data = load_dataset("cifar10", val_size=10)
    assert data.input_shape == (3, 32, 32)
    assert (len(data.train), len(data.val), len(data.test)) == (90, 10, 20)


def test_cifar10_refuses_pickles_that_would_run_code(data_root):
    root = write_cifar10(data_root / "cifar10")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with (root / "test_batch").open("wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(PowertrainError, match="refusing to load builtins.print"):
        load_dataset("cifar10")


def test_celeba_attributes_and_identity(data_root):
    write_celeba(data_root / "celeba")
    data = load_dataset("celeba", image_size=16)
    assert data.input_shape == (3, 16, 16)
    assert data.tasks["attributes"].multilabel and data.tasks["attributes"].num_classes == len(
        ATTRIBUTES
    )
    assert data.tasks["identity"].num_classes == 3
    assert (len(data.train), len(data.val), len(data.test)) == (8, 2, 2)
    assert set(data.train.y["attributes"].unique().tolist()) <= {0.0, 1.0}
    assert data.info["attributes"] == ATTRIBUTES


def test_celeba_malformed_attribute_file(data_root):
    write_celeba(data_root / "celeba")
    (data_root / "celeba" / "list_attr_celeba.txt").write_text("12\nA B\n000001.jpg 1 x\n")
    with pytest.raises(PowertrainError, match="attribute format"):
        load_dataset("celeba")


def test_pamap2_windows_stay_within_one_protocol_activity(data_root):
    protocol = write_pamap2(data_root / "pamap2")
    recording = pamap2.read_recording(protocol / "subject101.dat")
    assert recording.shape[1] == 54 and np.isnan(recording[:, 2]).mean() > 0.8
    x, y = pamap2.windows(recording, window=100, step=100)
    assert x.shape[1:] == (27, 100) and not np.isnan(x).any()
    assert set(y.tolist()) == {1, 4}  # never the transient activity 0
    data = load_dataset("pamap2", window=100, step=50, val_size=0.2, test_size=0.2)
    assert data.tasks["activity"].num_classes == 12 and data.tasks["subject"].num_classes == 2
    assert set(data.train.y["subject"].tolist()) == {0, 1}


def test_pamap2_rejects_a_file_with_the_wrong_columns(data_root):
    protocol = write_pamap2(data_root / "pamap2", subjects=1)
    (protocol / "subject101.dat").write_text("1 2 3\n4 5 6\n")
    with pytest.raises(PowertrainError, match="expected 54 columns"):
        load_dataset("pamap2")


@pytest.mark.parametrize("name", ["cifar10", "celeba", "pamap2"])
def test_missing_user_data_sets_say_where_to_put_them(data_root, name):
    with pytest.raises(PowertrainError, match="not found"):
        load_dataset(name)


def test_small_bundled_data_sets_load():
    digits = load_dataset("digits")
    assert digits.input_shape == (1, 8, 8) and len(digits.test) == 300
    mnist = load_dataset("mnist-5k")
    assert (
        mnist.input_shape == (1, 28, 28)
        and len(mnist.train) + len(mnist.val) + len(mnist.test) == 5000
    )


def test_unknown_data_set_and_option():
    with pytest.raises(PowertrainError, match="unknown data set"):
        load_dataset("imagenet")
    with pytest.raises(PowertrainError, match="no option 'colour'"):
        load_dataset("digits", colour=True)


def test_find_helpers_return_none_when_absent(data_root):
    assert (
        cifar10.find_cifar10() is None
        and celeba.find_celeba() is None
        and pamap2.find_pamap2() is None
    )


def test_a_data_set_made_from_arrays_splits_once_and_standardises_by_its_training_rows():
    from powertrain.data.base import Task, from_arrays

    rng = np.random.default_rng(7)
    x = rng.normal(5.0, [1.0, 10.0], (200, 2))
    y = (x[:, 0] > 5).astype(int)

    def make(**kw):
        return from_arrays("arrays", x, y, Task("c", 2), 30, 20, np.random.default_rng(0), **kw)

    data = make()
    assert data.input_shape == (2,) and list(data.tasks) == ["c"]
    assert (len(data.train), len(data.val), len(data.test)) == (150, 30, 20)
    assert np.allclose(data.train.x.mean(0).numpy(), 0, atol=1e-5)  # per feature, training rows
    assert np.allclose(data.train.x.std(0, unbiased=False).numpy(), 1, atol=1e-3)
    assert make().test.y["c"].tolist() == data.test.y["c"].tolist()  # the same draw, the same split
    shared = make(per_feature=False).train.x  # one spread over everything: the features' ratio kept
    assert shared.std(0)[1] / shared.std(0)[0] > 5
    with pytest.raises(PowertrainError, match="leave no training rows of 200"):
        from_arrays("arrays", x, y, Task("c", 2), 150, 50, np.random.default_rng(0))
