"""`selection_config`: how many samples to select and the strategies that decide which.

Each strategy pairs an input (what is known per sample) with a strategy (what to do with it).
The allowed pairs are checked here, at validation time, never during a run.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ModelWrapValidatorHandler, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from lightly_ray.config.base import StrictModel, closest_key, error_details

# The computed Lightly metadata (`lightly.<name>` in METADATA inputs); definitions in
# pipeline/lightly_metadata.py. Here, so that a misspelled key is refused before any work.
LIGHTLY_METADATA_PREFIX = "lightly."
LIGHTLY_METADATA_NAMES = (
    "sharpness",
    "snr",
    "sizeInBytes",
    "width",
    "height",
    "meanRed",
    "meanGreen",
    "meanBlue",
    "contrast",
)

# --- inputs -----------------------------------------------------------------------------------


class EmbeddingsInput(StrictModel):
    """Embeddings of the samples; with `task`, of the task's objects; with a query set, for SIMILARITY."""

    type: Literal["EMBEDDINGS"]
    task: str | None = Field(
        default=None, description="Object-detection task: select images whose objects are diverse."
    )
    dataset_id: str | None = Field(default=None, description="Dataset holding the query samples.")
    tag_name: str | None = Field(default=None, description="Tag of the query samples, e.g. initial-tag.")

    @model_validator(mode="after")
    def _query_needs_both(self) -> EmbeddingsInput:
        if (self.dataset_id is None) != (self.tag_name is None):
            raise ValueError("a query set needs both 'dataset_id' and 'tag_name'")
        return self


class ScoresInput(StrictModel):
    """An active-learning score computed from a task's predictions."""

    type: Literal["SCORES"]
    task: str = Field(description="Prediction task name, or 'lightly_pretagging'.")
    score: str = Field(description="Score name, e.g. uncertainty_entropy.")


class PredictionsInput(StrictModel):
    """The class distribution or category counts of a task's predictions."""

    type: Literal["PREDICTIONS"]
    task: str = Field(description="Prediction task name, or 'lightly_pretagging'.")
    name: Literal["CLASS_DISTRIBUTION", "CATEGORY_COUNT"]
    categories: list[str] | None = Field(
        default=None, description="CATEGORY_COUNT: count only these categories."
    )


class MetadataInput(StrictModel):
    """A custom metadata value (its schema path) or a computed one (`lightly.<name>`)."""

    type: Literal["METADATA"]
    key: str = Field(min_length=1, description="e.g. weather.temperature or lightly.sharpness.")

    @field_validator("key")
    @classmethod
    def _lightly_key_exists(cls, key: str) -> str:
        if not key.startswith(LIGHTLY_METADATA_PREFIX) or key[len(LIGHTLY_METADATA_PREFIX) :] in (
            LIGHTLY_METADATA_NAMES
        ):
            return key
        known = [LIGHTLY_METADATA_PREFIX + name for name in LIGHTLY_METADATA_NAMES]
        close = closest_key(key[len(LIGHTLY_METADATA_PREFIX) :], list(LIGHTLY_METADATA_NAMES))
        hint = f"; did you mean '{LIGHTLY_METADATA_PREFIX}{close}'?" if close else ";"
        raise ValueError(
            f"unknown Lightly metadata key '{key}'{hint} computed keys are {', '.join(known)} "
            "(custom metadata keys have no 'lightly.' prefix)"
        )


class RandomInput(StrictModel):
    """A seeded random value per sample."""

    type: Literal["RANDOM"]
    random_seed: int | None = None


SelectionInput = Annotated[
    EmbeddingsInput | ScoresInput | PredictionsInput | MetadataInput | RandomInput,
    Field(discriminator="type"),
]

# --- strategies -------------------------------------------------------------------------------


class _Strategy(StrictModel):
    strength: float = Field(default=1.0, description="Weight of this objective; negative inverts it.")


class DiversityStrategy(_Strategy):
    """Select samples as different from each other as possible (farthest-first)."""

    type: Literal["DIVERSITY"]
    stopping_condition_minimum_distance: float | None = Field(
        default=None,
        ge=0.0,
        description="Stop when the best candidate is closer than this to the selected set.",
    )


class WeightsStrategy(_Strategy):
    """Prefer samples with high values."""

    type: Literal["WEIGHTS"]
    stopping_condition_max_sum: float | None = Field(
        default=None, description="Stop when the selected values sum to more than this."
    )


class ThresholdStrategy(_Strategy):
    """Keep only samples whose value passes a comparison; applied before everything else."""

    type: Literal["THRESHOLD"]
    threshold: float
    operation: Literal["SMALLER", "SMALLER_EQUAL", "BIGGER", "BIGGER_EQUAL"]


class BalanceStrategy(_Strategy):
    """Bring the class distribution of the selection close to a target."""

    type: Literal["BALANCE"]
    target: dict[str, float] | None = Field(
        default=None,
        description="Class name -> fraction; the remainder belongs to all other classes.",
    )
    distribution: Literal["TARGET", "UNIFORM", "INPUT"] = "TARGET"

    @model_validator(mode="after")
    def _target_fits(self) -> BalanceStrategy:
        if self.distribution == "TARGET" and not self.target:
            raise ValueError("'target' is required when distribution is TARGET (the default)")
        for name, fraction in (self.target or {}).items():
            if not 0.0 <= fraction <= 1.0:
                raise ValueError(f"target fraction of '{name}' must be in [0, 1], got {fraction}")
        total = sum((self.target or {}).values())
        if total > 1.0 + 1e-9:
            raise ValueError(f"target fractions must sum to at most 1, got {total:g}")
        return self


class SimilarityStrategy(_Strategy):
    """Prefer samples close to a query set's embeddings."""

    type: Literal["SIMILARITY"]


class TypicalityStrategy(_Strategy):
    """Prefer representative samples (dense nearest-neighbour neighbourhoods)."""

    type: Literal["TYPICALITY"]
    num_nearest_neighbors: int = Field(default=20, gt=0)
    stopping_condition_minimum_typicality: float | None = Field(default=None, ge=0.0, le=1.0)


SelectionStrategy = Annotated[
    DiversityStrategy
    | WeightsStrategy
    | ThresholdStrategy
    | BalanceStrategy
    | SimilarityStrategy
    | TypicalityStrategy,
    Field(discriminator="type"),
]

# Input kind -> strategies it supports (FORMATS.md section 6).
ALLOWED_STRATEGIES: dict[str, tuple[str, ...]] = {
    "EMBEDDINGS": ("DIVERSITY", "SIMILARITY", "TYPICALITY"),
    "METADATA": ("WEIGHTS", "THRESHOLD", "BALANCE"),
    "SCORES": ("WEIGHTS", "THRESHOLD"),
    "RANDOM": ("WEIGHTS", "THRESHOLD"),
    "PREDICTIONS.CATEGORY_COUNT": ("WEIGHTS", "THRESHOLD"),
    "PREDICTIONS.CLASS_DISTRIBUTION": ("BALANCE",),
}


def input_kind(selection_input: SelectionInput) -> str:
    """The key of ALLOWED_STRATEGIES that describes an input."""
    if isinstance(selection_input, PredictionsInput):
        return f"PREDICTIONS.{selection_input.name}"
    return selection_input.type


def pair_problem(kind: str, strategy: str) -> str | None:
    """Why input `kind` (a key of ALLOWED_STRATEGIES) cannot go with `strategy`; None when it can."""
    allowed = ALLOWED_STRATEGIES.get(kind)
    if allowed is None or strategy in allowed:
        return None
    named = kind.replace(".", " ")
    return f"input {named} cannot be used with strategy {strategy}; allowed: {', '.join(allowed)}"


def _raw_pair_problem(data: Any) -> str | None:
    """`pair_problem` of a raw strategy entry (`{"input": {"type": ...}, "strategy": {"type": ...}}`)."""
    if not isinstance(data, dict):
        return None
    given, strategy = data.get("input"), data.get("strategy")
    if not isinstance(given, dict) or not isinstance(strategy, dict):
        return None
    kind = given.get("type")
    if kind == "PREDICTIONS":
        kind = f"PREDICTIONS.{given.get('name')}"
    if not isinstance(kind, str) or not isinstance(strategy.get("type"), str):
        return None
    return pair_problem(kind, strategy["type"])


class StrategyConfig(StrictModel):
    """One objective: an input and the strategy applied to it."""

    input: SelectionInput
    strategy: SelectionStrategy

    @model_validator(mode="wrap")
    @classmethod
    def _pair_beside_other_problems(
        cls, data: Any, handler: ModelWrapValidatorHandler[StrategyConfig]
    ) -> Any:
        """An input paired with a strategy it does not support is named beside the entry's other problems.

        The pair is checked after the fields are valid (`_pair_is_allowed`); when another problem
        stops that, it is found from the raw `type`s, so that one round of fixes is enough.
        """
        try:
            return handler(data)
        except ValidationError as error:
            errors = error.errors(include_url=False)
            message = _raw_pair_problem(data)
            if message is None or any(message in str(item.get("msg", "")) for item in errors):
                raise
            problem = InitErrorDetails(type=PydanticCustomError("pair", message), loc=(), input=data)
            raise ValidationError.from_exception_data(
                cls.__name__, [problem, *(error_details(item) for item in errors)]
            ) from None

    @model_validator(mode="after")
    def _pair_is_allowed(self) -> StrategyConfig:
        problem = pair_problem(input_kind(self.input), self.strategy.type)
        if problem is not None:
            raise ValueError(problem)
        query = isinstance(self.input, EmbeddingsInput) and self.input.dataset_id is not None
        if self.strategy.type == "SIMILARITY" and not query:
            raise ValueError("strategy SIMILARITY needs a query set: set input.dataset_id and input.tag_name")
        if self.strategy.type in ("DIVERSITY", "TYPICALITY") and query:
            raise ValueError(
                f"input.dataset_id/tag_name name a query set, which only SIMILARITY uses, "
                f"not {self.strategy.type}"
            )
        objects = isinstance(self.input, EmbeddingsInput) and self.input.task is not None
        if objects and (self.strategy.type != "DIVERSITY" or query):
            raise ValueError(
                "input.task (the embeddings of a task's objects) works with strategy DIVERSITY only, "
                "without a query set"
            )
        return self


class SelectionConfig(StrictModel):
    """`selection_config`: the budget and the objectives."""

    n_samples: int | None = Field(default=None, gt=0, description="Number of samples to select.")
    proportion_samples: float | None = Field(
        default=None, gt=0.0, le=1.0, description="Fraction of the input samples to select."
    )
    strategies: list[StrategyConfig] = Field(min_length=1)

    @model_validator(mode="wrap")
    @classmethod
    def _exactly_one_budget(cls, data: Any, handler: ModelWrapValidatorHandler[SelectionConfig]) -> Any:
        """Report a budget given twice or not at all beside the block's other problems, not after them."""
        if not isinstance(data, dict):
            return handler(data)
        budget = ["n_samples", "proportion_samples"]
        given = sum(data.get(key) is not None for key in budget)
        misspelled = any(key not in budget and closest_key(str(key), budget) for key in data)
        if given == 1 or (given == 0 and misspelled):  # a misspelled budget is named as such
            return handler(data)
        which = "both given; to override one, set the other to null" if given else "neither given"
        message = f"set exactly one of 'n_samples' and 'proportion_samples' ({which})"
        problem = InitErrorDetails(type=PydanticCustomError("budget", message), loc=(), input=data)
        try:
            handler(data)
        except ValidationError as error:
            raise ValidationError.from_exception_data(
                cls.__name__, [problem, *(error_details(item) for item in error.errors(include_url=False))]
            ) from None
        raise ValidationError.from_exception_data(cls.__name__, [problem])
