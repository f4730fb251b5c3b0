"""Parsers and validators of the files in the lightly location.

Predictions (`.lightly/predictions/`), custom metadata (`.lightly/metadata/`), the relevant
filenames file and the embeddings CSV. Every read goes through a `Location`; every error names
the file and the key (or line) and says what was expected.
"""

from lightly_ray.formats.embeddings_csv import (
    EmbeddingsTable,
    embeddings_csv_bytes,
    parse_embeddings_csv,
    read_embeddings_csv,
    write_embeddings_csv,
)
from lightly_ray.formats.metadata import MetadataColumns, read_metadata
from lightly_ray.formats.metadata_schema import (
    MetadataField,
    MetadataType,
    parse_metadata_schema,
    read_metadata_schema,
)
from lightly_ray.formats.prediction_items import Prediction, parse_prediction_file
from lightly_ray.formats.prediction_schema import (
    Category,
    TaskSchema,
    TaskType,
    parse_task_schema,
    read_task_names,
    read_task_schema,
)
from lightly_ray.formats.predictions import TaskPredictions, read_task_predictions, require_predictions
from lightly_ray.formats.problems import FieldError, FormatProblem
from lightly_ray.formats.relevant_filenames import (
    DEFAULT_RELEVANT_FILENAMES_FILE,
    RelevantFilenames,
    parse_relevant_filenames,
    read_relevant_filenames,
)
from lightly_ray.formats.rle import check_rle, rle_decode, rle_encode

__all__ = [
    "DEFAULT_RELEVANT_FILENAMES_FILE",
    "Category",
    "EmbeddingsTable",
    "FieldError",
    "FormatProblem",
    "MetadataColumns",
    "MetadataField",
    "MetadataType",
    "Prediction",
    "RelevantFilenames",
    "TaskPredictions",
    "TaskSchema",
    "TaskType",
    "check_rle",
    "embeddings_csv_bytes",
    "parse_embeddings_csv",
    "parse_metadata_schema",
    "parse_prediction_file",
    "parse_relevant_filenames",
    "parse_task_schema",
    "read_embeddings_csv",
    "read_metadata",
    "read_metadata_schema",
    "read_relevant_filenames",
    "read_task_names",
    "read_task_predictions",
    "read_task_schema",
    "require_predictions",
    "rle_decode",
    "rle_encode",
    "write_embeddings_csv",
]
