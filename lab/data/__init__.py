"""Datasets: generated from a seed (2-D toys, a 1-D regression, small
images, token tasks), real sets by name, and a user's own files; fitted to
the experiment's model by ``experiment_data``."""

from lab.data.datasets import IMAGE_SIZE, SHAPE_NAMES, Dataset, examples_per_class, make_dataset
from lab.data.fitting import experiment_data

__all__ = [
    "IMAGE_SIZE",
    "SHAPE_NAMES",
    "Dataset",
    "examples_per_class",
    "experiment_data",
    "make_dataset",
]
