"""Datasets as torch tensors: scikit-learn's bundled digits, and CIFAR-10 and MNIST read from
their real on-disk formats (no downloads: point the loader at a folder that has the files).

Images are float32 ``N x C x H x W`` in [0, 1] (CIFAR-10 optionally normalized per channel),
labels int64.
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from hwsim.errors import HwsimError, check


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split: float32 images ``N x C x H x W`` and int64 labels."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            check(
                x.dtype == torch.float32 and x.dim() == 4,
                f"dataset.x_{split}",
                (str(x.dtype), tuple(x.shape)),
                "must be float32 N x C x H x W",
            )
            check(
                y.dtype == torch.int64 and y.shape == (x.shape[0],),
                f"dataset.y_{split}",
                (str(y.dtype), tuple(y.shape)),
                f"must be int64 of shape ({x.shape[0]},)",
            )
            if len(y):
                check(
                    int(y.min()) >= 0 and int(y.max()) < self.num_classes,
                    f"dataset.y_{split}",
                    (int(y.min()), int(y.max())),
                    f"labels must lie in 0..{self.num_classes - 1}",
                )
        check(
            self.x_train.shape[1:] == self.x_test.shape[1:],
            "dataset.x_test",
            tuple(self.x_test.shape),
            f"image shape differs from train {self.input_shape}",
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One image's shape, ``(C, H, W)``."""
        return tuple(self.x_train.shape[1:])


# ----------------------------------------------------------------------------- digits
def load_digits(seed: int = 0, test_fraction: float = 1 / 3) -> Dataset:
    """scikit-learn's 1797 8x8 digits, scaled to [0, 1], split stratified by class; the same
    ``seed`` always gives the same split."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    check(
        isinstance(test_fraction, float | int) and 0 < test_fraction < 1,
        "test_fraction",
        test_fraction,
        "must be strictly between 0 and 1",
    )
    check(
        isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0,
        "seed",
        seed,
        "must be an integer >= 0",
    )
    raw = sk_digits()
    x = (raw.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = raw.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return Dataset(
        "digits",
        torch.from_numpy(x_tr),
        torch.from_numpy(y_tr),
        torch.from_numpy(x_te),
        torch.from_numpy(y_te),
        10,
    )


# ----------------------------------------------------------------------------- CIFAR-10
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"
_CIFAR_PIXELS = 3 * 32 * 32


def load_cifar10(directory: str | Path, normalize: bool = False) -> Dataset:
    """CIFAR-10 from its python format: pickled batches ``data_batch_1..5`` and
    ``test_batch`` (in ``directory`` or its ``cifar-10-batches-py`` sub-folder), each a dict
    with ``b"data"`` (uint8, N x 3072, channel-major) and ``b"labels"``.

    ``normalize`` subtracts the training set's per-channel mean and divides by its standard
    deviation (the test set gets the training statistics)."""
    folder = Path(directory)
    if not (folder / _CIFAR_TEST).exists() and (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    x_tr, y_tr = zip(*(_cifar_batch(folder / f) for f in _CIFAR_TRAIN), strict=True)
    x_te, y_te = _cifar_batch(folder / _CIFAR_TEST)
    x_train = torch.from_numpy(np.concatenate(x_tr))
    x_test = torch.from_numpy(x_te)
    if normalize:
        mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
        std = x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return Dataset(
        "cifar10",
        x_train,
        torch.from_numpy(np.concatenate(y_tr)),
        x_test,
        torch.from_numpy(y_te),
        10,
    )


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a pickle can otherwise run any code,
    and a data folder is not trusted input."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise HwsimError("cifar10 file", str(path), "no such file")
    try:
        with path.open("rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
    ) as exc:
        raise HwsimError("cifar10 file", str(path), f"not a CIFAR-10 batch: {exc}") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise HwsimError(
            "cifar10 file", str(path), f"expected a dict with b'data' and b'labels', got {keys}"
        )
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"])
    check(
        data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == _CIFAR_PIXELS,
        f"cifar10 data [{path.name}]",
        (str(data.dtype), data.shape),
        f"must be uint8 of shape (N, {_CIFAR_PIXELS})",
    )
    check(
        labels.ndim == 1
        and labels.shape[0] == data.shape[0]
        and np.issubdtype(labels.dtype, np.integer),
        f"cifar10 labels [{path.name}]",
        labels.shape,
        f"must be {data.shape[0]} integer labels, one per image",
    )
    check(
        labels.size == 0 or (labels.min() >= 0 and labels.max() <= 9),
        f"cifar10 labels [{path.name}]",
        (int(labels.min()), int(labels.max())),
        "must lie in 0..9",
    )
    images = data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    return images, labels.astype(np.int64)


# ----------------------------------------------------------------------------- MNIST
_IDX_IMAGES = 0x00000803  # unsigned bytes, 3 dimensions
_IDX_LABELS = 0x00000801  # unsigned bytes, 1 dimension


def load_mnist(directory: str | Path) -> Dataset:
    """MNIST (or any dataset in its layout, such as Fashion-MNIST) from the IDX files
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``, each optionally gzipped (``.gz``)."""
    folder = Path(directory)
    splits = []
    for prefix in ("train", "t10k"):
        images = _read_idx(_find_idx(folder, f"{prefix}-images-idx3-ubyte"), _IDX_IMAGES)
        labels = _read_idx(_find_idx(folder, f"{prefix}-labels-idx1-ubyte"), _IDX_LABELS)
        check(
            images.shape[0] == labels.shape[0],
            f"mnist {prefix} labels",
            labels.shape[0],
            f"count differs from the {images.shape[0]} images",
        )
        check(
            labels.size == 0 or labels.max() <= 9,
            f"mnist {prefix} labels",
            int(labels.max()) if labels.size else None,
            "must lie in 0..9",
        )
        x = torch.from_numpy(images.astype(np.float32)[:, None] / 255.0)
        splits += [x, torch.from_numpy(labels.astype(np.int64))]
    return Dataset("mnist", *splits, num_classes=10)


def _find_idx(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise HwsimError("mnist file", str(folder / stem), "no such file (nor .gz)")


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """One IDX file: a big-endian header (magic number, then one uint32 per dimension) and
    the raw unsigned bytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise HwsimError("mnist file", str(path), f"cannot read: {exc}") from exc
    ndim = magic & 0xFF
    header = 4 * (1 + ndim)
    check(
        len(raw) >= header,
        "mnist file",
        str(path),
        f"{len(raw)} bytes is shorter than the {header}-byte IDX header",
    )
    found = int.from_bytes(raw[:4], "big")
    check(
        found == magic,
        f"mnist magic [{path.name}]",
        hex(found),
        f"expected {hex(magic)} (unsigned bytes, {ndim} dimension(s))",
    )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    check(
        len(raw) - header == expected,
        f"mnist shape [{path.name}]",
        shape,
        f"header promises {expected} bytes of data, the file has {len(raw) - header}",
    )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


# ----------------------------------------------------------------------------- specs
def load_dataset(spec: str, seed: int = 0) -> Dataset:
    """A dataset from a short spec: ``"digits"``, ``"cifar10:DIR"`` or ``"mnist:DIR"``
    (``seed`` sets the digits split; the others come with a fixed split)."""
    if not isinstance(spec, str):
        raise HwsimError("dataset", spec, "must be a string such as 'digits' or 'mnist:DIR'")
    kind, _, directory = spec.partition(":")
    if kind == "digits" and not directory:
        return load_digits(seed=seed)
    if kind in ("cifar10", "mnist"):
        check(directory != "", "dataset", spec, f"needs a folder: '{kind}:DIR'")
        return load_cifar10(directory) if kind == "cifar10" else load_mnist(directory)
    raise HwsimError("dataset", spec, "expected 'digits', 'cifar10:DIR' or 'mnist:DIR'")
