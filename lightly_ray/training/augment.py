"""The two augmented views of every image that SimCLR compares.

The augmentations are lightly's (`lightly.transforms.SimCLRViewTransform`, MIT): random
resized crop, flips, colour jitter, random grayscale, Gaussian blur and 90-degree rotations,
with the probabilities and strengths of `lightly_config.collate`. They run on PIL images,
one image at a time, on CPUs: for GPU workers in Ray Data tasks spread over the cluster, so a
GPU never waits for its CPU to augment the next batch; a CPU worker augments its own batches
(`trainer.training_shape` says why).

Views travel as uint8 pixels (a quarter of float32 in the object store). lightly's transform
ends in `ToTensor`, which divides uint8 values by 255; multiplying back and rounding gives the
same integers, so nothing is lost. Normalisation happens on the training worker's device.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from lightly_ray.config.lightly import CollateConfig
from lightly_ray.pipeline.batch import Batch
from lightly_ray.training.training_rows import training_rows

# A Gaussian kernel covers about 6 sigma: `collate.kernel_size` (a fraction of input_size, the
# Lightly Worker's key) sets the largest sigma of the blur, whose smallest is lightly's 0.1.
KERNEL_SIGMAS = 6.0
MIN_SIGMA = 0.1


def blur_sigmas(collate: CollateConfig) -> tuple[float, float]:
    """The range of the blur's sigma, in pixels of the input_size image."""
    largest = collate.kernel_size * collate.input_size / KERNEL_SIGMAS
    return MIN_SIGMA, max(MIN_SIGMA, largest)


def view_transform(collate: CollateConfig) -> object:
    """The SimCLR view transform of lightly for `collate`, without normalisation (tensors in [0, 1])."""
    from lightly.transforms.simclr_transform import SimCLRViewTransform

    return SimCLRViewTransform(
        input_size=collate.input_size,
        cj_prob=collate.cj_prob,
        cj_strength=1.0,
        cj_bright=collate.cj_bright,
        cj_contrast=collate.cj_contrast,
        cj_sat=collate.cj_sat,
        cj_hue=collate.cj_hue,
        min_scale=collate.min_scale,
        random_gray_scale=collate.random_gray_scale,
        gaussian_blur=collate.gaussian_blur,
        sigmas=blur_sigmas(collate),
        vf_prob=collate.vf_prob,
        hf_prob=collate.hf_prob,
        rr_prob=collate.rr_prob,
        normalize=None,
    )


_TRANSFORMS: dict[str, object] = {}


def augment_views(batch: Batch, collate: CollateConfig, crops: bool = False) -> Batch:
    """Make `view0` and `view1` (uint8, (batch, size, size, 3)) from `image` (a Ray Data batch function).

    Args:
        batch: Decoded samples (`image`, uint8, (batch, size, size, 3), and `ok` when some may
            have failed to decode: those are left out; `parent` when the run cuts crops).
        collate: `lightly_config.collate` (input size and augmentations).
        crops: Train on the object crops of the batch instead of its images (`training_rows`).

    Returns:
        The two views of every row training uses, nothing else.

    """
    key = collate.model_dump_json()
    transform = _TRANSFORMS.get(key)
    if transform is None:
        transform = _TRANSFORMS[key] = view_transform(collate)
    images = batch["image"][training_rows(batch, crops)]
    size = collate.input_size
    views = [np.empty((len(images), size, size, 3), np.uint8) for _ in range(2)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # per-image work on the task's own CPU
    try:
        for row, pixels in enumerate(images):
            picture = Image.fromarray(pixels)
            for view in views:
                tensor = transform(picture)  # type: ignore[operator]
                view[row] = tensor.mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    finally:
        torch.set_num_threads(threads)
    return {"view0": views[0], "view1": views[1]}
