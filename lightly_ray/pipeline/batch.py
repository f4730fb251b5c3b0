"""The batch every map function of the data path takes and returns.

Ray Data's numpy batch format: a column name to a numpy array whose first axis is the rows
(`map_batches(..., batch_format="numpy")`). Strings travel as numpy string or object arrays,
images as uint8 arrays of (rows, height, width, 3), vectors as (rows, dim).
"""

from __future__ import annotations

import numpy as np

Batch = dict[str, np.ndarray]
