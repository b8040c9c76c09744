"""Image data for the training notebooks: synthetic (always there) or real (when on disk).

>>> from course_utils.data import SyntheticShapes
>>> ds = SyntheticShapes(n=100, image_size=32, seed=0)
>>> image, label = ds[0]
>>> tuple(image.shape), ds.classes[label] in ds.classes
((3, 32, 32), True)
"""

from .real import DATA_DIR_ENV, DatasetNotFoundError, cifar10, data_roots, find_cifar10, image_folder
from .select import load_dataset
from .shapes import CLASSES, NUM_CLASSES, SyntheticShapes, label_of, render

__all__ = [
    "CLASSES",
    "DATA_DIR_ENV",
    "NUM_CLASSES",
    "DatasetNotFoundError",
    "SyntheticShapes",
    "cifar10",
    "data_roots",
    "find_cifar10",
    "image_folder",
    "label_of",
    "load_dataset",
    "render",
]
