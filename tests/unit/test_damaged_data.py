"""Damaged data sets a user has: one PowertrainError naming the file and what is wrong with it."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest

from powertrain.data import fashion_mnist
from powertrain.data.registry import load_dataset
from powertrain.errors import PowertrainError
from tests.fakes.datasets import write_celeba, write_cifar10, write_fashion_mnist, write_idx


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("POWERTRAIN_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "truncated: 0 bytes, not even an IDX header"),
        (b"\x00\x00", "truncated: 2 bytes"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated: its IDX header needs 16 bytes"),
        (b"\x00\x00\x08\x03" + b"\x00\x00\x00\x02" * 3 + b"\x01", "truncated: expected 8 values"),
        (b"PK\x03\x04 a zip file", "not an IDX file of unsigned bytes"),
    ],
)
def test_a_damaged_idx_file(tmp_path, content, message):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(PowertrainError, match=message) as info:
        fashion_mnist.read_idx(path)
    assert str(path) in str(info.value)


def test_a_gz_that_is_not_gzip_or_is_cut_short(tmp_path):
    plain = tmp_path / "train-images-idx3-ubyte.gz"
    plain.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")
    with pytest.raises(PowertrainError, match=f"{plain} is not a readable gzip file"):
        fashion_mnist.read_idx(plain)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(bytes(5000))[:30])
    with pytest.raises(PowertrainError, match=f"{cut} is not a readable gzip file"):
        fashion_mnist.read_idx(cut)


def test_a_damaged_fashion_mnist_file_is_named_when_loading(data_root):
    write_fashion_mnist(data_root / "fashion-mnist")
    labels = data_root / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(b"not gzip at all")
    with pytest.raises(PowertrainError, match="t10k-labels-idx1-ubyte.gz is not a readable gzip"):
        load_dataset("fashion-mnist", val_size=20)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({b"data": np.zeros((4, 1024), np.uint8), b"labels": [0] * 4}, r"shape \(4, 1024\)"),
        ({b"data": np.zeros(3072 * 2, np.uint8), b"labels": [0, 1]}, r"shape \(6144,\)"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "2 images but 1 labels"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, "label outside 0 ... 9"),
        ({b"labels": [0]}, "is not a CIFAR-10 python batch"),
        ([1, 2, 3], "is not a CIFAR-10 python batch"),
    ],
)
def test_a_cifar10_batch_of_the_wrong_shape(data_root, batch, message):
    root = write_cifar10(data_root / "cifar10")
    with (root / "data_batch_3").open("wb") as f:
        pickle.dump(batch, f, protocol=2)
    with pytest.raises(PowertrainError, match=message) as info:
        load_dataset("cifar10", val_size=10)
    assert "data_batch_3" in str(info.value)


def test_a_cut_cifar10_file(data_root):
    root = write_cifar10(data_root / "cifar10")
    path = root / "test_batch"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(PowertrainError, match=f"{path} is not a CIFAR-10 python batch"):
        load_dataset("cifar10", val_size=10)


def test_a_bad_jpeg_in_celeba(data_root):
    write_celeba(data_root / "celeba")
    image = data_root / "celeba" / "img_align_celeba" / "000003.jpg"
    image.write_bytes(b"\xff\xd8\xff\xe0 this is no JPEG")
    with pytest.raises(PowertrainError, match=f"{image} is not a readable image"):
        load_dataset("celeba", image_size=16)


def test_a_cut_jpeg_in_celeba(data_root):
    write_celeba(data_root / "celeba")
    image = data_root / "celeba" / "img_align_celeba" / "000002.jpg"
    image.write_bytes(image.read_bytes()[:400])
    with pytest.raises(PowertrainError, match=f"{image} is not a readable image"):
        load_dataset("celeba", image_size=16)


def test_a_missing_image_in_celeba(data_root):
    write_celeba(data_root / "celeba")
    image = data_root / "celeba" / "img_align_celeba" / "000005.jpg"
    image.unlink()
    with pytest.raises(
        PowertrainError, match=f"{image} is missing, but list_attr_celeba.txt lists"
    ):
        load_dataset("celeba", image_size=16)


@pytest.mark.parametrize("name", ["list_attr_celeba.txt", "identity_CelebA.txt"])
def test_a_celeba_label_file_that_is_not_utf8(data_root, name):
    write_celeba(data_root / "celeba")
    path = data_root / "celeba" / name
    path.write_bytes(path.read_bytes() + "caf\xe9\n".encode("latin-1"))
    with pytest.raises(PowertrainError, match=f"{path} is not UTF-8 text"):
        load_dataset("celeba", image_size=16)


def test_an_idx_written_correctly_still_reads(tmp_path):
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    write_idx(tmp_path / "ok.gz", array)
    assert (fashion_mnist.read_idx(tmp_path / "ok.gz") == array).all()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"test_size": 1797}, "test_size 1797 leaves no test data or no training data"),
        ({"test_size": 1796}, "test_size 1796"),
        ({"test_size": 5000}, "test_size 5000"),
        ({"test_size": 1700, "val_size": 200}, "val_size 200"),
    ],
)
def test_a_split_size_that_leaves_no_data_is_named_as_itself(options, named):
    with pytest.raises(PowertrainError, match=named):
        load_dataset("digits", **options)


def test_subset_sizes_are_named_when_not_positive():
    from powertrain.data.base import subsample

    with pytest.raises(PowertrainError, match="test_size must be positive, got 0"):
        subsample(np.zeros((5, 2)), {}, 0, 0, "test_size")
