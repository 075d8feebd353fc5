"""Datasets: scikit-learn's bundled digits, CIFAR-10 and MNIST read from their real on-disk
formats, and folders of JPEG/PNG images with one sub-folder per class (no downloads: point the
loader at a folder that has the files).

Digits, CIFAR-10 and MNIST are small enough to hold in memory: a :class:`Dataset` of float32
``N x C x H x W`` tensors in [0, 1] (CIFAR-10 optionally normalized per channel), int64 labels.
An :class:`ImageFolder` keeps file names only and decodes each image when a batch needs it, so
it scales to ImageNet-sized folders. Both are read the same way: :func:`loader` gives a torch
``DataLoader`` over a split (shuffled, with training augmentation, in worker processes if
asked) and :func:`calibration` the first training images as one tensor, unaugmented.
"""

from __future__ import annotations

import gzip
import math
import pickle
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data import Dataset as TorchDataset

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
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None
    """Applied to each training image (``C x H x W``) when a loader asks for augmentation."""

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

    def split(self, split: str, augment: bool = False) -> TorchDataset:
        """The ``"train"`` or ``"test"`` split as a torch dataset of ``(image, label)``."""
        x, y = tensors(self, split)
        if augment and self.augment is not None:
            return _Transformed(x, y, self.augment)
        return TensorDataset(x, y)


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


def load_cifar10(directory: str | Path, normalize: bool = False, augment: bool = True) -> Dataset:
    """CIFAR-10 from its python format: pickled batches ``data_batch_1..5`` and
    ``test_batch`` (in ``directory`` or its ``cifar-10-batches-py`` sub-folder), each a dict
    with ``b"data"`` (uint8, N x 3072, channel-major) and ``b"labels"``.

    ``normalize`` subtracts the training set's per-channel mean and divides by its standard
    deviation (the test set gets the training statistics). ``augment`` trains with the standard
    CIFAR augmentation (:class:`RandomCropFlip`: 4-pixel padding, random 32x32 crop, flip)."""
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
        RandomCropFlip(padding=4) if augment else None,
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


# ----------------------------------------------------------------------------- augmentation
class RandomCropFlip:
    """The standard CIFAR training augmentation on one ``C x H x W`` image: pad ``padding``
    zero pixels on every side, take a random ``H x W`` crop, mirror left-right half the time.

    Randomness comes from torch's global generator, which a ``DataLoader`` seeds in each worker
    from its own generator: the same seed and worker count give the same images."""

    def __init__(self, padding: int = 4) -> None:
        check(isinstance(padding, int) and padding >= 0, "padding", padding, "must be an int >= 0")
        self.padding = padding

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        p = self.padding
        _, h, w = image.shape
        top, left = (int(v) for v in torch.randint(0, 2 * p + 1, (2,)))
        out = F.pad(image, (p, p, p, p))[:, top : top + h, left : left + w]
        return out.flip(-1) if bool(torch.rand(()) < 0.5) else out


class _Transformed(TorchDataset):
    """In-memory images with a per-image transform (the training augmentation)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform: Callable) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.x[i]), self.y[i]


# ----------------------------------------------------------------------------- image folders
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
TEST_FOLDERS = ("val", "test")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EVAL_CROP_FRACTION = 0.875
"""Evaluation resizes so the crop is this fraction of the shorter side (256 -> 224)."""
CROP_SCALE = (0.08, 1.0)  # random-resized-crop: fraction of the image's area
CROP_RATIO = (3 / 4, 4 / 3)  # and aspect ratio (width / height) of the crop


@dataclass(frozen=True, eq=False)
class ImageFolder:
    """Images in class-per-sub-folder layout, decoded with Pillow when a batch needs them.

    ``root/train/<class>/*.jpg|png`` and ``root/val/<class>/...`` (or ``test``), as ImageNet
    and Imagenette ship. Classes are the training sub-folders in sorted order. Training files
    are kept in one fixed shuffled order, so the first ``n`` (the calibration subset) mix the
    classes. Images are converted to the model's channels (RGB or grey), then:

    - evaluation: resized so the shorter side is the crop over ``EVAL_CROP_FRACTION`` and
      center-cropped to ``input_shape`` (the torchvision 256 -> 224 recipe);
    - training with augmentation: a random-resized crop (``CROP_SCALE`` of the area,
      ``CROP_RATIO`` aspect) to ``input_shape``, mirrored left-right half the time.

    ``mean``/``std`` normalize each channel after scaling to [0, 1]; ImageNet's statistics by
    default for RGB, since checkpoints trained on such folders expect them (grey images stay in
    [0, 1] unless given statistics).
    """

    name: str
    root: Path
    classes: tuple[str, ...]
    train_files: tuple[tuple[str, int], ...]
    test_files: tuple[tuple[str, int], ...]
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...] | None = IMAGENET_MEAN
    std: tuple[float, ...] | None = IMAGENET_STD

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, split: str, augment: bool = False) -> TorchDataset:
        """The ``"train"`` or ``"test"`` split as a torch dataset of ``(image, label)``."""
        check(split in ("train", "test"), "split", split, "must be 'train' or 'test'")
        files = self.train_files if split == "train" else self.test_files
        return _ImageFiles(files, self.input_shape, augment, self.mean, self.std)


def load_image_folder(
    directory: str | Path,
    input_shape: Sequence[int],
    mean: Sequence[float] | None = IMAGENET_MEAN,
    std: Sequence[float] | None = IMAGENET_STD,
) -> ImageFolder:
    """An :class:`ImageFolder` at ``directory`` producing ``input_shape`` (C, H, W) images."""
    root = Path(directory)
    check(root.is_dir(), "imagefolder", str(root), "no such folder")
    shape = tuple(int(v) for v in input_shape)
    check(
        len(shape) == 3 and shape[0] in (1, 3) and min(shape[1:]) >= 1,
        "image shape",
        tuple(input_shape),
        "must be (C, H, W) with 1 or 3 channels",
    )
    if shape[0] == 1 and mean is IMAGENET_MEAN and std is IMAGENET_STD:
        mean = std = None  # the default statistics are RGB ones: grey stays in [0, 1]
    if mean is not None or std is not None:
        check(
            mean is not None and std is not None and len(mean) == len(std) == shape[0],
            "image normalization",
            (mean, std),
            f"needs a mean and a std for each of the {shape[0]} channels",
        )
        check(min(std) > 0, "image normalization std", tuple(std), "must be > 0")
    train_dir = root / "train"
    test_dir = next((root / t for t in TEST_FOLDERS if (root / t).is_dir()), None)
    check(
        train_dir.is_dir() and test_dir is not None,
        "imagefolder",
        str(root),
        f"needs a train/ folder and a {' or '.join(TEST_FOLDERS)}/ folder of class sub-folders",
    )
    classes = tuple(sorted(d.name for d in train_dir.iterdir() if _visible_dir(d)))
    check(len(classes) >= 1, "imagefolder", str(train_dir), "has no class sub-folders")
    train = _class_files(train_dir, classes, require_all=True)
    test_classes = sorted(d.name for d in test_dir.iterdir() if _visible_dir(d))
    unknown = sorted(set(test_classes) - set(classes))
    check(
        not unknown,
        f"imagefolder {test_dir.name} classes",
        unknown[:10],
        f"are not training classes (train has {list(classes[:10])}"
        f"{'...' if len(classes) > 10 else ''})",
    )
    test = _class_files(test_dir, classes, require_all=False)
    check(len(test) >= 1, "imagefolder", str(test_dir), "has no images")
    random.Random(0).shuffle(train)  # fixed order: the first n training images mix the classes
    return ImageFolder(
        f"imagefolder:{root}",
        root,
        classes,
        tuple(train),
        tuple(test),
        shape,
        None if mean is None else tuple(float(v) for v in mean),
        None if std is None else tuple(float(v) for v in std),
    )


def _visible_dir(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".")


def _class_files(folder: Path, classes: Sequence[str], require_all: bool) -> list[tuple[str, int]]:
    files = []
    for label, name in enumerate(classes):
        found = sorted(
            str(f)
            for f in (folder / name).rglob("*")
            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file() and not f.name.startswith(".")
        )
        check(
            bool(found) or not require_all,
            "imagefolder class",
            str(folder / name),
            f"has no {'/'.join(IMAGE_SUFFIXES)} images",
        )
        files += [(f, label) for f in found]
    return files


class _ImageFiles(TorchDataset):
    """Decodes, crops and scales one image file per item (in a DataLoader worker if any)."""

    def __init__(
        self,
        files: Sequence[tuple[str, int]],
        input_shape: tuple[int, int, int],
        augment: bool,
        mean: Sequence[float] | None,
        std: Sequence[float] | None,
    ) -> None:
        self.files = files
        self.channels, self.height, self.width = input_shape
        self.augment = augment
        self.mean = None if mean is None else torch.tensor(mean).view(-1, 1, 1)
        self.std = None if std is None else torch.tensor(std).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image, UnidentifiedImageError

        path, label = self.files[i]
        mode = "RGB" if self.channels == 3 else "L"
        size = (self.width, self.height)
        try:
            with Image.open(path) as img:
                if not self.augment:
                    # JPEG decodes at 1/2, 1/4 or 1/8 scale for free when that is still large
                    # enough for the evaluation crop.
                    w, h = img.size
                    scale = _eval_scale(w, h, size)
                    img.draft(mode, (math.ceil(w * scale), math.ceil(h * scale)))
                img = img.convert(mode)
                box = self._train_box(*img.size) if self.augment else _eval_box(*img.size, size)
                img = img.resize(size, Image.Resampling.BILINEAR, box=box)
                if self.augment and bool(torch.rand(()) < 0.5):
                    img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                pixels = np.asarray(img, dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise HwsimError("image file", path, f"cannot decode: {exc}") from exc
        x = torch.from_numpy(pixels.copy()).reshape(self.height, self.width, self.channels)
        x = x.permute(2, 0, 1).float().div_(255)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x, torch.tensor(label, dtype=torch.int64)

    def _train_box(self, w: int, h: int) -> tuple[float, float, float, float]:
        """A random-resized-crop box (left, top, right, bottom), torchvision's algorithm."""
        area = w * h
        log_lo, log_hi = math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])
        for _ in range(10):
            target = area * float(torch.empty(()).uniform_(*CROP_SCALE))
            ratio = math.exp(float(torch.empty(()).uniform_(log_lo, log_hi)))
            cw = round(math.sqrt(target * ratio))
            ch = round(math.sqrt(target / ratio))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(torch.randint(0, h - ch + 1, ()))
                left = int(torch.randint(0, w - cw + 1, ()))
                return (left, top, left + cw, top + ch)
        # Fallback: the largest centered crop with an aspect ratio inside CROP_RATIO.
        if w / h < CROP_RATIO[0]:
            cw, ch = w, round(w / CROP_RATIO[0])
        elif w / h > CROP_RATIO[1]:
            cw, ch = round(h * CROP_RATIO[1]), h
        else:
            cw, ch = w, h
        left, top = (w - cw) // 2, (h - ch) // 2
        return (left, top, left + cw, top + ch)


def _eval_scale(w: int, h: int, size: tuple[int, int]) -> float:
    """How much evaluation scales an image: the crop covers ``EVAL_CROP_FRACTION`` of it."""
    return max(size[0] / w, size[1] / h) / EVAL_CROP_FRACTION


def _eval_box(w: int, h: int, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The centered box of a ``w x h`` image that resize-then-center-crop keeps."""
    scale = _eval_scale(w, h, size)
    cw, ch = size[0] / scale, size[1] / scale
    left, top = (w - cw) / 2, (h - ch) / 2
    return (left, top, left + cw, top + ch)


# ----------------------------------------------------------------------------- reading
DataSource = Dataset | ImageFolder


def tensors(data: Any, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` of an in-memory ``split`` (anything with ``x_train``/``y_train``...)."""
    check(split in ("train", "test"), "split", split, "must be 'train' or 'test'")
    try:
        return getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
    except AttributeError as exc:
        raise HwsimError(
            "data", type(data).__name__, f"needs x_{split} and y_{split} tensors"
        ) from exc


def torch_split(data: Any, split: str, augment: bool = False) -> TorchDataset:
    """``split`` of a :class:`Dataset`, an :class:`ImageFolder` or any object with
    ``x_train``/``y_train`` tensors, as a torch dataset."""
    if isinstance(data, Dataset | ImageFolder):
        return data.split(split, augment)
    return TensorDataset(*tensors(data, split))


def is_dataset(obj: Any) -> bool:
    """Whether ``obj`` is a dataset (splits of images and labels), not a batch of images."""
    return isinstance(obj, Dataset | ImageFolder) or hasattr(obj, "x_train")


def loader(
    data: Any,
    split: str = "train",
    *,
    batch_size: int = 64,
    shuffle: bool | None = None,
    augment: bool | None = None,
    seed: int = 0,
    workers: int = 0,
) -> DataLoader:
    """A ``DataLoader`` over ``split``: shuffled and augmented by default for ``"train"``
    only. ``workers`` > 0 decodes and augments in that many processes.

    The same ``seed`` and ``workers`` give the same batches: the order comes from a generator
    seeded with ``seed``, and each worker's augmentation draws from a seed taken from it."""
    train = split == "train"
    check(
        isinstance(batch_size, int) and batch_size >= 1,
        "batch_size",
        batch_size,
        "must be an integer >= 1",
    )
    check(isinstance(workers, int) and workers >= 0, "workers", workers, "must be an int >= 0")
    return DataLoader(
        torch_split(data, split, train if augment is None else augment),
        batch_size=batch_size,
        shuffle=train if shuffle is None else shuffle,
        generator=torch.Generator().manual_seed(seed),
        num_workers=workers,
    )


def calibration(data: Any, samples: int, *, workers: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``samples`` training images (unaugmented) and labels, as tensors: what
    activation steps and sensitivities are measured on."""
    check(
        isinstance(samples, int) and not isinstance(samples, bool) and samples >= 1,
        "samples",
        samples,
        "must be an integer >= 1",
    )
    if not isinstance(data, ImageFolder):
        x, y = tensors(data, "train")
        return x[:samples], y[:samples]
    subset = torch.utils.data.Subset(data.split("train"), range(min(samples, num_samples(data))))
    batches = list(DataLoader(subset, batch_size=256, num_workers=workers))
    return torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])


def num_samples(data: Any, split: str = "train") -> int:
    """How many images ``split`` holds."""
    return len(torch_split(data, split))


# ----------------------------------------------------------------------------- specs
DATA_SPECS = "'digits', 'cifar10:DIR', 'mnist:DIR' or 'imagefolder:DIR'"


def load_dataset(spec: str, seed: int = 0, input_shape: Sequence[int] | None = None) -> DataSource:
    """A dataset from a short spec: ``"digits"``, ``"cifar10:DIR"``, ``"mnist:DIR"`` or
    ``"imagefolder:DIR"`` (``seed`` sets the digits split; the others come with a fixed split;
    ``input_shape`` (C, H, W) is the size an image folder is cropped to, usually the model's)."""
    if not isinstance(spec, str):
        raise HwsimError("dataset", spec, f"must be a string: {DATA_SPECS}")
    kind, _, directory = spec.partition(":")
    if kind == "digits" and not directory:
        return load_digits(seed=seed)
    if kind in ("cifar10", "mnist", "imagefolder"):
        check(directory != "", "dataset", spec, f"needs a folder: '{kind}:DIR'")
        if kind == "imagefolder":
            check(
                input_shape is not None,
                "input_shape",
                input_shape,
                "an image folder needs the (C, H, W) to crop to (the model's, or --image-size)",
            )
            return load_image_folder(directory, input_shape)
        return load_cifar10(directory) if kind == "cifar10" else load_mnist(directory)
    raise HwsimError("dataset", spec, f"expected {DATA_SPECS}")
