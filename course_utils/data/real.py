"""Real image data sets, used only when they are already on disk.

The course never downloads at run time (the workshop machines may have no
network, and a data set download inside a timed cell is a bad surprise).
When a data set is missing, the error says where we looked and how to put it
there.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "COURSE_DATA_DIR"
CIFAR10_DIRNAME = "cifar-10-batches-py"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class DatasetNotFoundError(FileNotFoundError):
    """A real data set is not on disk (or is incomplete); the message says what to do."""


REPO_DATA = Path(__file__).resolve().parents[2] / "data"


def data_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """Where to look, in order: ``root`` if given, else ``$COURSE_DATA_DIR``, ``./data``, the course
    checkout's ``data/`` (notebooks run from ``notebooks/``), ``~/data``."""
    if root is not None:
        return [Path(root).expanduser()]
    roots = []
    if os.environ.get(DATA_DIR_ENV):
        roots.append(Path(os.environ[DATA_DIR_ENV]).expanduser())
    roots += [Path.cwd() / "data", REPO_DATA, Path.home() / "data"]
    return list(dict.fromkeys(roots))  # without repeats, in order


def _how_to_get_cifar10(where: Path) -> str:
    return (
        f"To use CIFAR-10, put torchvision's copy in {where / CIFAR10_DIRNAME}: on a machine with network run\n"
        f"    python -c \"import torchvision; torchvision.datasets.CIFAR10('{where}', download=True)\"\n"
        f"and copy the {CIFAR10_DIRNAME} folder here (or set {DATA_DIR_ENV} to the folder that holds it). "
        "Until then the course uses its synthetic data set (course_utils.data.SyntheticShapes)."
    )


def find_cifar10(root: str | os.PathLike | None = None) -> Path | None:
    """The first root that holds a ``cifar-10-batches-py`` folder, or None."""
    for r in data_roots(root):
        if (r / CIFAR10_DIRNAME).is_dir():
            return r
    return None


def cifar10(root: str | os.PathLike | None = None, split: str = "train", transform=None):
    """torchvision's CIFAR-10 from disk: images as float tensors (3, 32, 32) in [0, 1].

    Raises :class:`DatasetNotFoundError` when it is not there or fails
    torchvision's checksum test.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    found = find_cifar10(root)
    if found is None:
        looked = ", ".join(str(r) for r in data_roots(root))
        raise DatasetNotFoundError(
            f"CIFAR-10 is not on disk (looked for {CIFAR10_DIRNAME}/ in: {looked}).\n"
            + _how_to_get_cifar10(data_roots(root)[0])
        )
    import torchvision
    from torchvision import transforms

    try:
        return torchvision.datasets.CIFAR10(
            str(found), train=split == "train", download=False, transform=transform or transforms.ToTensor()
        )
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted"
        raise DatasetNotFoundError(
            f"{found / CIFAR10_DIRNAME} is there but incomplete or corrupted "
            f"(torchvision: {exc}).\n" + _how_to_get_cifar10(found)
        ) from exc


def image_folder(path: str | os.PathLike, image_size: int | None = None, transform=None):
    """An ImageFolder (``path/<class>/<image>``) as float tensors in [0, 1], resized and
    centre-cropped to ``image_size`` when given."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise DatasetNotFoundError(
            f"{path} is not a folder. An ImageFolder data set is a folder with one "
            "sub-folder per class, each holding that class's images "
            "(e.g. data/pets/cat/001.jpg, data/pets/dog/001.jpg)."
        )
    classes = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    with_images = [d for d in classes if any(f.suffix.lower() in IMAGE_SUFFIXES for f in d.rglob("*"))]
    if not with_images:
        raise DatasetNotFoundError(
            f"{path} has no class sub-folders with images "
            f"(found sub-folders: {[d.name for d in classes] or 'none'}; image types read: "
            f"{', '.join(IMAGE_SUFFIXES)}). Put each class's images in its own sub-folder."
        )
    import torchvision
    from torchvision import transforms

    if transform is None:
        steps = [transforms.Resize(image_size), transforms.CenterCrop(image_size)] if image_size else []
        transform = transforms.Compose([*steps, transforms.ToTensor()])
    # ImageFolder insists every class folder holds an image; allow_empty keeps a half-filled tree usable
    return torchvision.datasets.ImageFolder(str(path), transform=transform, allow_empty=True)
