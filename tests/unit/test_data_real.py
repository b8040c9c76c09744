"""Real data sets are read from disk only, and a missing one says what to do."""

import hashlib
import pickle

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from course_utils.data import (
    DATA_DIR_ENV,
    DatasetNotFoundError,
    SyntheticShapes,
    cifar10,
    data_roots,
    find_cifar10,
    image_folder,
    load_dataset,
)


def write_fake_cifar10(root, per_batch=4):
    """torchvision's on-disk CIFAR-10 layout (pickled batches) with a few random images."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    expected = {}
    for name in names:
        data = rng.integers(0, 256, size=(per_batch, 3 * 32 * 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f)
        expected[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)
    return folder, expected


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def no_data_env(monkeypatch, tmp_path):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_missing_cifar10_names_every_place_looked_and_how_to_fix(no_data_env, tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        cifar10()
    msg = str(info.value)
    for root in data_roots():
        assert str(root) in msg
    assert "download=True" in msg and DATA_DIR_ENV in msg and "SyntheticShapes" in msg
    assert isinstance(info.value, FileNotFoundError)


def test_cifar10_on_disk_is_read_through_torchvision(no_data_env, tmp_path, monkeypatch):
    folder, expected = write_fake_cifar10(tmp_path / "mydata")
    # the fake files are ours: give torchvision their checksums instead of the real ones
    monkeypatch.setattr(
        torchvision.datasets.CIFAR10,
        "train_list",
        [[f"data_batch_{i}", md5(folder / f"data_batch_{i}")] for i in range(1, 6)],
    )
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "test_list", [["test_batch", md5(folder / "test_batch")]])
    monkeypatch.setitem(torchvision.datasets.CIFAR10.meta, "md5", md5(folder / "batches.meta"))
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "mydata"))
    assert find_cifar10() == tmp_path / "mydata"
    train = cifar10(split="train")
    test = cifar10(split="test")
    assert len(train) == 20 and len(test) == 4
    image, label = test[1]
    data, labels = expected["test_batch"]
    assert image.shape == (3, 32, 32) and label == labels[1]
    assert torch.allclose(image, torch.tensor(data[1].reshape(3, 32, 32), dtype=torch.float32) / 255)
    # the same data through the trainers' entry point, cut to n samples and resized
    small = load_dataset("cifar10", "train", image_size=48, n=6)
    assert len(small) == 6 and small[0][0].shape == (3, 48, 48)


def test_corrupted_cifar10_is_reported_as_such(no_data_env, tmp_path):
    write_fake_cifar10(tmp_path / "d")  # real checksums do not match the fake files
    with pytest.raises(DatasetNotFoundError, match="incomplete or corrupted"):
        cifar10(tmp_path / "d")


def write_image_folder(root, classes=("cat", "dog"), per_class=3, size=40):
    rng = np.random.default_rng(1)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)).save(root / c / f"{i}.png")


def test_image_folder_reads_classes_and_resizes(tmp_path):
    write_image_folder(tmp_path / "pets")
    ds = image_folder(tmp_path / "pets", image_size=24)
    assert ds.classes == ["cat", "dog"] and len(ds) == 6
    image, label = ds[4]
    assert image.shape == (3, 24, 24) and label == 1 and 0 <= image.min() and image.max() <= 1


def test_image_folder_with_train_and_test_subfolders(tmp_path):
    write_image_folder(tmp_path / "set" / "train", per_class=4)
    write_image_folder(tmp_path / "set" / "test", per_class=1)
    assert len(load_dataset(f"folder:{tmp_path / 'set'}", "train", image_size=16)) == 8
    assert len(load_dataset(f"folder:{tmp_path / 'set'}", "test", image_size=16)) == 2


def test_image_folder_errors_say_what_layout_is_expected(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="one sub-folder per class"):
        image_folder(tmp_path / "nothing")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    (tmp_path / "empty" / "cat" / "notes.txt").write_text("no images")
    with pytest.raises(DatasetNotFoundError, match=r"no class sub-folders with images.*cat"):
        image_folder(tmp_path / "empty")


def test_load_dataset_shapes_and_bad_names():
    ds = load_dataset("shapes", "test", image_size=32, n=50, seed=4)
    assert isinstance(ds, SyntheticShapes) and len(ds) == 50 and ds.split == "test" and ds.seed == 4
    with pytest.raises(ValueError, match="'shapes', 'cifar10' or 'folder:PATH'"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="split"):
        load_dataset("shapes", "val")
    with pytest.raises(ValueError, match="positive whole number"):
        load_dataset("shapes", n=0)
