"""`lightly_config`: the embedding model, its data loading and (later) its training."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lightly_ray.config.base import StrictModel

ModelName = Literal["resnet-18", "resnet-34", "resnet-50", "resnet-101", "resnet-152"]
WeightsName = Literal["imagenet", "random"]


class LoaderConfig(StrictModel):
    """`lightly_config.loader`."""

    batch_size: int = Field(default=16, gt=0, description="Images per model batch.")
    shuffle: bool = Field(default=True, description="Shuffle training batches (training only).")
    num_workers: int = Field(
        default=-1, ge=-1, description="Decode tasks in flight; -1 uses every CPU of the cluster."
    )
    drop_last: bool = Field(
        default=True, description="Drop the last incomplete training batch (training only)."
    )


class ModelConfig(StrictModel):
    """`lightly_config.model`."""

    name: ModelName = Field(default="resnet-18", description="Backbone architecture.")
    weights: WeightsName = Field(
        default="imagenet",
        description="lightly_ray extension: 'imagenet' (torchvision's ImageNet weights from the "
        "torch hub cache) or 'random' (seeded random weights, for tests and demos). "
        "worker_config.checkpoint overrides it.",
    )
    out_dim: int = Field(default=128, gt=0, description="Dimension of the embeddings.")
    num_ftrs: int = Field(default=32, gt=0, description="Feature size of the self-supervised training head.")
    width: float = Field(default=1, gt=0, description="Width multiplier of the backbone.")


class TrainerConfig(StrictModel):
    """`lightly_config.trainer` (training only)."""

    gpus: int = Field(default=1, ge=0)
    max_epochs: int = Field(default=100, ge=0)
    precision: Literal[16, 32, 64, "16-mixed", "bf16-mixed", "32-true"] = 32


class CriterionConfig(StrictModel):
    """`lightly_config.criterion` (training only)."""

    temperature: float = Field(default=0.5, gt=0.0)


class OptimizerConfig(StrictModel):
    """`lightly_config.optimizer` (training only)."""

    lr: float = Field(default=1.0, gt=0.0, description="Learning rate.")
    weight_decay: float = Field(default=0.00001, ge=0.0, description="Weight decay.")
    name: Literal["sgd", "adamw"] = Field(
        default="sgd",
        description="lightly_ray extension: 'sgd' (plain SGD, as the Lightly Worker trains; its lr "
        "default of 1.0 is meant for it) or 'adamw' (AdamW, which learns in far fewer epochs; use an "
        "lr near 0.001 with it).",
    )


class CollateConfig(StrictModel):
    """`lightly_config.collate`: input size (always) and augmentations (training only)."""

    input_size: int = Field(
        default=64, gt=0, description="Images are resized to input_size x input_size pixels."
    )
    cj_prob: float = Field(default=0.8, ge=0.0, le=1.0)
    cj_bright: float = Field(default=0.7, ge=0.0)
    cj_contrast: float = Field(default=0.7, ge=0.0)
    cj_sat: float = Field(default=0.7, ge=0.0)
    cj_hue: float = Field(default=0.2, ge=0.0, le=0.5)
    min_scale: float = Field(default=0.15, gt=0.0, le=1.0)
    random_gray_scale: float = Field(default=0.2, ge=0.0, le=1.0)
    gaussian_blur: float = Field(default=0.5, ge=0.0, le=1.0)
    kernel_size: float = Field(default=0.1, gt=0.0)
    vf_prob: float = Field(default=0.0, ge=0.0, le=1.0)
    hf_prob: float = Field(default=0.5, ge=0.0, le=1.0)
    rr_prob: float = Field(default=0.0, ge=0.0, le=1.0)


class PretaggingConfig(StrictModel):
    """`lightly_config.pretagging` (a lightly_ray block): the detector of `worker_config.pretagging`."""

    weights: str = Field(
        default="coco",
        min_length=1,
        description="'coco': torchvision's COCO weights of Faster R-CNN ResNet-50 FPN from the torch "
        "hub cache (downloaded there when the machine is online); 'random': seeded random weights "
        "(tests and offline demos); anything else: the path of a checkpoint in the lightly "
        "location (a state dict of torchvision's fasterrcnn_resnet50_fpn with 91 COCO classes).",
    )
    score_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Detections with a lower score are dropped."
    )
    batch_size: int = Field(default=4, gt=0, description="Images per detector batch.")
    image_size: int = Field(
        default=800,
        ge=32,
        description="The longer side, in pixels, of the images the detector sees (larger images are "
        "scaled down, smaller ones up, keeping their aspect ratio). torchvision's COCO model was "
        "trained with shorter sides of 800.",
    )


class LightlyConfig(StrictModel):
    """`lightly_config`. Defaults are those of the Lightly Worker."""

    loader: LoaderConfig = Field(default_factory=LoaderConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    criterion: CriterionConfig = Field(default_factory=CriterionConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    collate: CollateConfig = Field(default_factory=CollateConfig)
    seed: int = Field(default=1, description="Seed of random weights and random projections.")
    pretagging: PretaggingConfig = Field(default_factory=PretaggingConfig)
