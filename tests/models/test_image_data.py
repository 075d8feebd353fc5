"""Image folders (real JPEG/PNG files written here with Pillow), the CIFAR-10 augmentation and
the loaders every dataset is read through."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from hwsim import HwsimError
from models.data import (
    EVAL_CROP_FRACTION,
    RandomCropFlip,
    calibration,
    load_cifar10,
    load_dataset,
    load_image_folder,
    loader,
    num_samples,
)
from tests.models.test_data import write_cifar

COLORS = {"ant": (250, 10, 10), "bee": (10, 250, 10), "cat": (10, 10, 250)}


def write_folder(root, per_class: int = 4, test_per_class: int = 2) -> None:
    """Solid-colour images, a different colour per class, in several real formats and sizes:
    RGB JPEG, RGB PNG, RGBA PNG and an upper-case suffix."""
    for split, n in (("train", per_class), ("val", test_per_class)):
        for name, color in COLORS.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                size = (40 + 7 * i, 30 + 5 * i)
                if i % 3 == 0:
                    Image.new("RGB", size, color).save(folder / f"{i}.JPG", quality=95)
                elif i % 3 == 1:
                    Image.new("RGB", size, color).save(folder / f"{i}.png")
                else:
                    Image.new("RGBA", size, (*color, 128)).save(folder / f"{i}.png")
    (root / "train" / "ant" / "notes.txt").write_text("not an image")


def test_folder_classes_counts_and_colours(tmp_path):
    write_folder(tmp_path)
    data = load_image_folder(tmp_path, (3, 16, 16), mean=None, std=None)
    assert data.classes == ("ant", "bee", "cat") and data.num_classes == 3
    assert (num_samples(data, "train"), num_samples(data, "test")) == (12, 6)
    for split in ("train", "test"):
        for x, y in loader(data, split, batch_size=5, augment=False):
            assert x.shape[1:] == (3, 16, 16) and x.dtype == torch.float32
            # every pixel keeps its class's colour (JPEG within a few levels)
            expected = torch.tensor([COLORS[data.classes[int(c)]] for c in y]).float() / 255
            err = (x - expected[:, :, None, None]).abs().max()
            assert float(err) < 6 / 255


def test_folder_calibration_mixes_classes(tmp_path):
    write_folder(tmp_path, per_class=6)
    data = load_image_folder(tmp_path, (3, 8, 8), mean=None, std=None)
    x, y = calibration(data, 6)
    assert x.shape == (6, 3, 8, 8) and len(set(y.tolist())) > 1
    # the same images as the first ones the unshuffled training loader reads
    xb, yb = next(iter(loader(data, "train", batch_size=6, shuffle=False, augment=False)))
    assert torch.equal(x, xb) and torch.equal(y, yb)
    assert calibration(data, 100)[0].shape[0] == 18  # all there is


def test_folder_normalizes_with_the_given_statistics(tmp_path):
    write_folder(tmp_path, per_class=1, test_per_class=1)
    mean, std = (0.5, 0.25, 0.1), (0.5, 0.2, 0.3)
    raw = load_image_folder(tmp_path, (3, 4, 4), mean=None, std=None)
    norm = load_image_folder(tmp_path, (3, 4, 4), mean=mean, std=std)
    x_raw, _ = calibration(raw, 3)
    x_norm, _ = calibration(norm, 3)
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(x_norm, (x_raw - m) / s)


def gradient_folder(root, w: int, h: int) -> None:
    """One grey PNG whose value is twice its column index: where a pixel came from is known."""
    cols = (2 * np.arange(w)).astype(np.uint8)
    for split in ("train", "val"):
        (root / split / "a").mkdir(parents=True)
        Image.fromarray(np.tile(cols, (h, 1)), mode="L").save(root / split / "a" / "g.png")


@pytest.mark.parametrize(("w", "h", "out"), [(100, 50, 32), (60, 90, 24), (40, 40, 35)])
def test_eval_crop_is_resize_then_center_crop(tmp_path, w, h, out):
    gradient_folder(tmp_path, w, h)
    data = load_image_folder(tmp_path, (1, out, out), mean=None, std=None)
    x, _ = next(iter(loader(data, "test")))
    # Independent geometry: scale so the shorter side is out / 0.875, keep the centre.
    scale = out / min(w, h) / EVAL_CROP_FRACTION
    left = (w - out / scale) / 2
    centers = left + (np.arange(out) + 0.5) / scale - 0.5
    expected = 2 * np.clip(centers, 0, w - 1)
    got = x[0, 0].numpy() * 255
    # bilinear with antialiasing: within a step of the gradient
    np.testing.assert_allclose(got, np.tile(expected, (out, 1)), atol=2.5)


def test_train_crops_are_random_resized_and_flipped(tmp_path):
    w, h = 120, 80
    gradient_folder(tmp_path, w, h)
    data = load_image_folder(tmp_path, (1, 16, 16), mean=None, std=None)
    split = data.split("train", augment=True)
    torch.manual_seed(0)
    flips, spans = 0, []
    for _ in range(200):
        x, _ = split[0]
        row = x[0, 8].numpy() * 255
        steps = np.diff(row)
        assert np.all(steps >= -0.51) or np.all(steps <= 0.51)  # one direction per image
        flips += bool(row[0] > row[-1])
        lo, hi = row.min() / 2, row.max() / 2
        assert -0.5 <= lo and hi <= w - 0.5
        spans.append(hi - lo)
    assert 50 < flips < 150  # mirrored about half the time
    # crops cover from a small part of the width up to nearly all of it
    assert min(spans) < 0.4 * w and max(spans) > 0.8 * w


def test_loader_seed_decides_augmented_batches(tmp_path):
    write_folder(tmp_path)
    data = load_image_folder(tmp_path, (3, 8, 8))

    def batches(seed: int, workers: int = 0):
        return [x for x, _ in loader(data, batch_size=4, seed=seed, workers=workers)]

    a, b, c = batches(3), batches(3), batches(4)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a, c, strict=True))


def test_workers_read_the_same_images(tmp_path):
    write_folder(tmp_path)
    data = load_image_folder(tmp_path, (3, 12, 12))
    serial = list(loader(data, "test", batch_size=4))
    parallel = list(loader(data, "test", batch_size=4, workers=2))
    assert len(serial) == len(parallel) == 2
    for (xs, ys), (xp, yp) in zip(serial, parallel, strict=True):
        assert torch.equal(xs, xp) and torch.equal(ys, yp)
    augmented = [x for x, _ in loader(data, batch_size=4, seed=1, workers=2)]
    again = [x for x, _ in loader(data, batch_size=4, seed=1, workers=2)]
    assert all(torch.equal(p, q) for p, q in zip(augmented, again, strict=True))


def test_grey_model_reads_colour_files_as_luma(tmp_path):
    write_folder(tmp_path, per_class=1, test_per_class=1)
    data = load_image_folder(tmp_path, (1, 6, 6), mean=None, std=None)
    x, y = calibration(data, 3)
    assert x.shape == (3, 1, 6, 6)
    for xi, yi in zip(x, y, strict=True):
        r, g, b = COLORS[data.classes[int(yi)]]
        luma = (299 * r + 587 * g + 114 * b) / 1000 / 255  # ITU-R 601-2, as Pillow's "L"
        assert float((xi - luma).abs().max()) < 6 / 255


def test_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(HwsimError, match="no such folder"):
        load_image_folder(tmp_path / "nope", (3, 8, 8))
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(HwsimError, match="val or test") as err:
        load_image_folder(tmp_path, (3, 8, 8))
    assert err.value.field == "imagefolder"
    (tmp_path / "val" / "b").mkdir(parents=True)
    with pytest.raises(HwsimError, match=r"no .* images") as err:
        load_image_folder(tmp_path, (3, 8, 8))
    assert err.value.field == "imagefolder class"
    Image.new("RGB", (4, 4)).save(tmp_path / "train" / "a" / "x.png")
    with pytest.raises(HwsimError, match="not training classes") as err:
        load_image_folder(tmp_path, (3, 8, 8))
    assert err.value.value == ["b"]
    (tmp_path / "val" / "b").rmdir()
    (tmp_path / "val" / "a").mkdir()
    (tmp_path / "val" / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    data = load_image_folder(tmp_path, (3, 8, 8))
    with pytest.raises(HwsimError, match="cannot decode") as err:
        next(iter(loader(data, "test")))
    assert err.value.field == "image file" and err.value.value.endswith("broken.jpg")
    with pytest.raises(HwsimError) as err:
        load_image_folder(tmp_path, (4, 8, 8))
    assert err.value.field == "image shape"
    with pytest.raises(HwsimError) as err:
        load_image_folder(tmp_path, (3, 8, 8), mean=(0.5,), std=(0.5,))
    assert err.value.field == "image normalization"


def test_imagefolder_spec_needs_the_shape(tmp_path):
    write_folder(tmp_path, per_class=1, test_per_class=1)
    with pytest.raises(HwsimError) as err:
        load_dataset(f"imagefolder:{tmp_path}")
    assert err.value.field == "input_shape"
    data = load_dataset(f"imagefolder:{tmp_path}", input_shape=(3, 10, 12))
    assert data.input_shape == (3, 10, 12) and data.num_classes == 3
    assert calibration(data, 2)[0].shape == (2, 3, 10, 12)


# ----------------------------------------------------------------------------- CIFAR-10
def crops_and_flips(image: np.ndarray, pad: int) -> list[np.ndarray]:
    """Every output the standard augmentation may give, enumerated with numpy."""
    _, h, w = image.shape
    padded = np.pad(image, ((0, 0), (pad, pad), (pad, pad)))
    out = []
    for top in range(2 * pad + 1):
        for left in range(2 * pad + 1):
            crop = padded[:, top : top + h, left : left + w]
            out += [crop, crop[:, :, ::-1]]
    return out


@given(
    image=hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)),
        elements=st.floats(0.5, 1, width=32),
    ),
    pad=st.integers(0, 4),
    seed=st.integers(0, 2**16),
)
def test_random_crop_flip_is_one_of_the_padded_crops(image, pad, seed):
    torch.manual_seed(seed)
    got = RandomCropFlip(pad)(torch.from_numpy(image)).numpy()
    assert got.shape == image.shape
    assert any(np.array_equal(got, c) for c in crops_and_flips(image, pad))


def test_random_crop_flip_reaches_every_offset_and_both_mirrors():
    image = torch.arange(1, 1 + 3 * 5 * 6, dtype=torch.float32).reshape(3, 5, 6)
    candidates = crops_and_flips(image.numpy(), 2)
    seen = set()
    torch.manual_seed(0)
    for _ in range(600):
        got = RandomCropFlip(2)(image).numpy()
        seen.add(next(i for i, c in enumerate(candidates) if np.array_equal(got, c)))
    assert len(seen) == len(candidates)  # 5 x 5 offsets x 2 mirrors


def test_cifar_trains_augmented_and_tests_plain(tmp_path):
    write_cifar(tmp_path, per_batch=4)
    data = load_cifar10(tmp_path)
    test_x = torch.cat([x for x, _ in loader(data, "test", batch_size=2)])
    assert torch.equal(test_x, data.x_test)
    torch.manual_seed(0)
    train = torch.cat([x for x, _ in loader(data, batch_size=8, shuffle=False)])
    assert train.shape == data.x_train.shape and not torch.equal(train, data.x_train)
    for got, orig in zip(train, data.x_train, strict=True):
        assert any(np.array_equal(got.numpy(), c) for c in crops_and_flips(orig.numpy(), 4))
    plain = load_cifar10(tmp_path, augment=False)
    train = torch.cat([x for x, _ in loader(plain, batch_size=8, shuffle=False)])
    assert torch.equal(train, plain.x_train)


def test_loader_checks_its_options(tmp_path):
    write_cifar(tmp_path)
    data = load_cifar10(tmp_path)
    with pytest.raises(HwsimError) as err:
        loader(data, batch_size=0)
    assert err.value.field == "batch_size"
    with pytest.raises(HwsimError) as err:
        loader(data, workers=-1)
    assert err.value.field == "workers"
    with pytest.raises(HwsimError) as err:
        calibration(data, 0)
    assert err.value.field == "samples"
