"""lightly_ray: Ray-distributed data curation for computer vision, configured like the Lightly Worker."""

from lightly_ray.config import RunConfig, load_config
from lightly_ray.run import RunResult, run

__version__ = "0.1.0"

__all__ = ["RunConfig", "RunResult", "__version__", "load_config", "run"]
