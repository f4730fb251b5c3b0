"""Every config example of the product documents (../shared/seeds/), cleaned to plain dicts.

Cleaning removed only comments and the commented-out string literal inside a strategies list
(the object-level example's optional SCORES strategy, kept here as its own example). Keys and
values are as the documents show them. Each entry holds the keyword arguments of
`schedule_compute_worker_run(...)`.
"""

from __future__ import annotations

from typing import Any

DEFAULT_LIGHTLY_CONFIG: dict[str, Any] = {
    "loader": {"batch_size": 16, "shuffle": True, "num_workers": -1, "drop_last": True},
    "model": {"name": "resnet-18", "out_dim": 128, "num_ftrs": 32, "width": 1},
    "trainer": {"gpus": 1, "max_epochs": 100, "precision": 32},
    "criterion": {"temperature": 0.5},
    "optimizer": {"lr": 1, "weight_decay": 0.00001},
    "collate": {
        "input_size": 64,
        "cj_prob": 0.8,
        "cj_bright": 0.7,
        "cj_contrast": 0.7,
        "cj_sat": 0.7,
        "cj_hue": 0.2,
        "min_scale": 0.15,
        "random_gray_scale": 0.2,
        "gaussian_blur": 0.5,
        "kernel_size": 0.1,
        "vf_prob": 0,
        "hf_prob": 0.5,
        "rr_prob": 0,
    },
}


def _diversity(**strategy: Any) -> dict[str, Any]:
    return {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY", **strategy}}


SEED_CONFIGS: dict[str, dict[str, Any]] = {
    "object_level": {
        "worker_config": {
            "enable_corruptness_check": True,
            "remove_exact_duplicates": True,
            "enable_training": False,
            "pretagging": False,
            "pretagging_debug": False,
            "object_level": {"task_name": "vehicles_object_detections"},
        },
        "selection_config": {"n_samples": 100, "strategies": [_diversity()]},
        "lightly_config": DEFAULT_LIGHTLY_CONFIG,
    },
    "object_level_with_active_learning": {
        "worker_config": {
            "enable_corruptness_check": True,
            "remove_exact_duplicates": True,
            "enable_training": False,
            "pretagging": False,
            "pretagging_debug": False,
            "object_level": {"task_name": "vehicles_object_detections"},
        },
        "selection_config": {
            "n_samples": 100,
            "strategies": [
                _diversity(),
                {
                    "input": {
                        "type": "SCORES",
                        "task": "vehicles_object_detections",
                        "score": "uncertainty_entropy",
                    },
                    "strategy": {"type": "WEIGHTS"},
                },
            ],
        },
        "lightly_config": DEFAULT_LIGHTLY_CONFIG,
    },
    "object_level_pretagging": {
        "worker_config": {
            "enable_corruptness_check": True,
            "remove_exact_duplicates": True,
            "enable_training": False,
            "pretagging": True,
            "pretagging_debug": False,
            "object_level": {"task_name": "lightly_pretagging"},
        },
        "selection_config": {"n_samples": 100, "strategies": [_diversity()]},
        "lightly_config": DEFAULT_LIGHTLY_CONFIG,
    },
    "pretagging_balance": {
        "worker_config": {"pretagging": True},
        "selection_config": {
            "n_samples": 100,
            "strategies": [
                {
                    "input": {
                        "type": "PREDICTIONS",
                        "task": "lightly_pretagging",
                        "name": "CLASS_DISTRIBUTION",
                    },
                    "strategy": {
                        "type": "BALANCE",
                        "target": {
                            "bicycle": 0.1,
                            "bus": 0.1,
                            "car": 0.5,
                            "motorcycle": 0.1,
                            "person": 0.1,
                            "train": 0.05,
                            "truck": 0.05,
                        },
                    },
                }
            ],
        },
    },
    "pretagging_crop_selection": {
        "worker_config": {"pretagging": True, "object_level": {"task_name": "lightly_pretagging"}},
        "selection_config": {"n_samples": 100, "strategies": [_diversity()]},
    },
    "scheduling_example": {"selection_config": {"n_samples": 50, "strategies": [_diversity()]}},
    "visual_diversity": {"selection_config": {"n_samples": 100, "strategies": [_diversity()]}},
    "diversity_stopping_condition": {
        "selection_config": {
            "n_samples": 100,
            "strategies": [_diversity(stopping_condition_minimum_distance=0.2)],
        }
    },
    "active_learning": {
        "selection_config": {
            "n_samples": 100,
            "strategies": [
                {
                    "input": {
                        "type": "SCORES",
                        "task": "my_object_detection_task",
                        "score": "uncertainty_entropy",
                    },
                    "strategy": {"type": "WEIGHTS"},
                }
            ],
        }
    },
    "diversity_and_active_learning": {
        "selection_config": {
            "n_samples": 100,
            "strategies": [
                _diversity(),
                {
                    "input": {
                        "type": "SCORES",
                        "task": "my_object_detection_task",
                        "score": "uncertainty_entropy",
                    },
                    "strategy": {"type": "WEIGHTS"},
                },
            ],
        }
    },
    "metadata_thresholding": {
        "selection_config": {
            "n_samples": 100,
            "strategies": [
                {
                    "input": {"type": "METADATA", "key": "lightly.sharpness"},
                    "strategy": {"type": "THRESHOLD", "threshold": 20, "operation": "BIGGER"},
                }
            ],
        }
    },
    "object_balancing": {
        "worker_config": {"pretagging": True},  # seed 002: pretagging on, its task balanced
        "selection_config": {
            "n_samples": 100,
            "strategies": [
                {
                    "input": {
                        "type": "PREDICTIONS",
                        "task": "lightly_pretagging",
                        "name": "CLASS_DISTRIBUTION",
                    },
                    "strategy": {
                        "type": "BALANCE",
                        "target": {
                            "car": 0.1,
                            "bicycle": 0.5,
                            "bus": 0.1,
                            "motorcycle": 0.1,
                            "person": 0.1,
                            "train": 0.05,
                            "truck": 0.05,
                        },
                    },
                }
            ],
        },
    },
    "metadata_balancing": {
        "selection_config": {
            "n_samples": 100,
            "strategies": [
                {
                    "input": {"type": "METADATA", "key": "weather.description"},
                    "strategy": {"type": "BALANCE", "target": {"sunny": 0.2, "cloudy": 0.4}},
                }
            ],
        }
    },
    "similarity_search": {
        "selection_config": {
            "n_samples": 100,
            "strategies": [
                {
                    "input": {
                        "type": "EMBEDDINGS",
                        "dataset_id": "DATASET_ID_OF_THE_QUERY_IMAGES",
                        "tag_name": "TAG_NAME_OF_THE_QUERY_IMAGES",
                    },
                    "strategy": {"type": "SIMILARITY"},
                }
            ],
        }
    },
    "object_diversity": {
        "selection_config": {
            "n_samples": 100,
            "strategies": [
                {
                    "input": {"type": "EMBEDDINGS", "task": "my_object_detections"},
                    "strategy": {"type": "DIVERSITY"},
                }
            ],
        }
    },
    "datapool_first_run": {
        "worker_config": {"enable_training": False},
        "selection_config": {
            "n_samples": 100,
            "strategies": [_diversity(stopping_condition_minimum_distance=0.1)],
        },
    },
    "datapool_second_run": {
        "worker_config": {"enable_training": False},
        "selection_config": {
            "n_samples": 100,
            "strategies": [_diversity(stopping_condition_minimum_distance=0.2)],
        },
    },
    "datapool_process_all": {
        "worker_config": {"datasource": {"process_all": True}, "enable_training": False},
        "selection_config": {
            "n_samples": 100,
            "strategies": [_diversity(stopping_condition_minimum_distance=0.2)],
        },
    },
}
