"""Dataset loaders against small files written here in the real on-disk formats."""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from hwsim import HwsimError
from models.data import Dataset, load_cifar10, load_dataset, load_digits, load_mnist


# ----------------------------------------------------------------------------- digits
def test_digits_split_is_stratified_scaled_and_complete():
    data = load_digits(seed=0)
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10
    assert len(data.x_train) + len(data.x_test) == 1797  # scikit-learn's digits
    assert len(data.x_test) == pytest.approx(1797 / 3, abs=1)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert 0.0 <= float(data.x_train.min()) and float(data.x_train.max()) == 1.0
    # every class keeps its share (within one sample) in the test split
    train_counts = torch.bincount(data.y_train, minlength=10).numpy()
    test_counts = torch.bincount(data.y_test, minlength=10).numpy()
    assert np.all(np.abs(test_counts - (train_counts + test_counts) / 3) <= 1)


def test_digits_pixels_are_the_raw_values_over_16():
    from sklearn.datasets import load_digits as sk_digits

    data = load_digits(seed=3)
    raw = np.sort(sk_digits().data.sum(axis=1))
    ours = np.sort(torch.cat([data.x_train, data.x_test]).sum(dim=(1, 2, 3)).numpy() * 16)
    np.testing.assert_allclose(ours, raw, rtol=1e-6)


def test_digits_split_depends_on_the_seed_only():
    a, b, c = load_digits(seed=1), load_digits(seed=1), load_digits(seed=2)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)


@pytest.mark.parametrize("fraction", [0, 1, -0.5, 1.5])
def test_digits_bad_fraction(fraction):
    with pytest.raises(HwsimError, match="test_fraction"):
        load_digits(test_fraction=fraction)


# ----------------------------------------------------------------------------- CIFAR-10
def write_cifar(folder, per_batch: int = 2, test: int = 3, labels=None) -> None:
    """Batches like the real ones: Python-2-era pickles of dicts with bytes keys."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = test if name == "test_batch" else per_batch
        batch = {
            b"batch_label": name.encode(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": list(rng.integers(0, 10, n)) if labels is None else labels[:n],
            b"filenames": [b"x.png"] * n,
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)


def test_cifar_reads_channel_major_rows(tmp_path):
    write_cifar(tmp_path)
    batch = pickle.loads((tmp_path / "data_batch_2").read_bytes())
    data = load_cifar10(tmp_path)
    assert data.input_shape == (3, 32, 32)
    assert (len(data.x_train), len(data.x_test)) == (10, 3)
    # the first image of batch 2 is row 2 of the training set; green at row 5, column 7
    green = batch[b"data"][0, 1024 + 5 * 32 + 7]
    assert float(data.x_train[2, 1, 5, 7]) == pytest.approx(green / 255)
    assert data.y_train[2:4].tolist() == [int(v) for v in batch[b"labels"]]


def test_cifar_found_in_its_archive_folder_and_normalized(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py", per_batch=20)
    data = load_cifar10(tmp_path, normalize=True)
    x = data.x_train.double()
    np.testing.assert_allclose(x.mean(dim=(0, 2, 3)).numpy(), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(dim=(0, 2, 3)).numpy(), 1, atol=1e-4)


def test_cifar_missing_batch(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(HwsimError, match="data_batch_4") as err:
        load_cifar10(tmp_path)
    assert err.value.field == "cifar10 file"


def test_cifar_wrong_row_length(tmp_path):
    write_cifar(tmp_path)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((3, 1024), np.uint8), b"labels": [0, 1, 2]}, f)
    with pytest.raises(HwsimError, match=r"\(3, 1024\)") as err:
        load_cifar10(tmp_path)
    assert err.value.field == "cifar10 data [test_batch]"


def test_cifar_label_out_of_range(tmp_path):
    write_cifar(tmp_path, labels=[0, 10, 1])
    with pytest.raises(HwsimError, match=r"0\.\.9"):
        load_cifar10(tmp_path)


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar_refuses_pickles_that_run_code(tmp_path):
    write_cifar(tmp_path)
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Payload(), b"labels": []}, f)
    with pytest.raises(HwsimError, match=r"refusing to load .*system"):
        load_cifar10(tmp_path)


# ----------------------------------------------------------------------------- MNIST
def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """The IDX layout: magic (0x08 = unsigned byte, then the rank), big-endian dims, data."""
    if magic is None:
        magic = 0x0800 | array.ndim
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.tobytes()


def write_mnist(
    folder, n_train: int = 5, n_test: int = 2, gz: bool = False, overrides: dict | None = None
) -> dict:
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        raw = (overrides or {}).get(name, idx_bytes(array))
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx_files(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    data = load_mnist(tmp_path)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert float(data.x_train[3, 0, 27, 1]) == pytest.approx(
        arrays["train-images-idx3-ubyte"][3, 27, 1] / 255
    )
    assert data.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert data.y_train.dtype == torch.int64


def test_mnist_bad_magic_is_named(tmp_path):
    labels = np.zeros(5, np.uint8)
    write_mnist(tmp_path, overrides={"train-labels-idx1-ubyte": idx_bytes(labels, 0x0803)})
    with pytest.raises(HwsimError, match="0x803") as err:
        load_mnist(tmp_path)
    assert err.value.field == "mnist magic [train-labels-idx1-ubyte]"


def test_mnist_truncated_data_is_a_shape_error(tmp_path):
    images = np.zeros((2, 28, 28), np.uint8)
    write_mnist(tmp_path, overrides={"t10k-images-idx3-ubyte": idx_bytes(images)[:-10]})
    with pytest.raises(HwsimError) as err:
        load_mnist(tmp_path)
    assert err.value.field == "mnist shape [t10k-images-idx3-ubyte]"
    assert err.value.value == (2, 28, 28)


def test_mnist_label_count_must_match(tmp_path):
    write_mnist(tmp_path, overrides={"train-labels-idx1-ubyte": idx_bytes(np.zeros(4, np.uint8))})
    with pytest.raises(HwsimError, match="count differs"):
        load_mnist(tmp_path)


def test_mnist_missing_file(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(HwsimError, match="t10k-labels-idx1-ubyte") as err:
        load_mnist(tmp_path)
    assert err.value.field == "mnist file"


# ----------------------------------------------------------------------------- specs
def test_load_dataset_specs(tmp_path):
    write_cifar(tmp_path / "c")
    write_mnist(tmp_path / "m", gz=True)
    assert load_dataset("digits", seed=5).name == "digits"
    assert torch.equal(load_dataset("digits", seed=5).y_test, load_digits(seed=5).y_test)
    assert load_dataset(f"cifar10:{tmp_path / 'c'}").name == "cifar10"
    assert load_dataset(f"mnist:{tmp_path / 'm'}").name == "mnist"


@pytest.mark.parametrize("spec", ["imagenet", "mnist", "cifar10:", "digits:foo", "", 3])
def test_load_dataset_bad_specs(spec):
    with pytest.raises(HwsimError) as err:
        load_dataset(spec)
    assert err.value.field == "dataset"


def test_dataset_checks_its_tensors():
    x, y = torch.zeros(4, 1, 2, 2), torch.tensor([0, 1, 2, 3])
    with pytest.raises(HwsimError, match="y_train"):
        Dataset("d", x, y.float(), x, y, 4)
    with pytest.raises(HwsimError, match="y_test"):
        Dataset("d", x, y, x, torch.tensor([0, 1, 2, 4]), 4)
    with pytest.raises(HwsimError, match="x_test"):
        Dataset("d", x, y, torch.zeros(4, 1, 3, 3), y, 4)
