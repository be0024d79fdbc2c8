"""Datasets generated from a seed: 2-D toys, a 1-D regression, small images."""

from lab.data.datasets import IMAGE_SIZE, SHAPE_NAMES, Dataset, examples_per_class, make_dataset

__all__ = ["IMAGE_SIZE", "SHAPE_NAMES", "Dataset", "examples_per_class", "make_dataset"]
