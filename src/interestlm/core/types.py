"""Array aliases shared by every stage: bulk data is numpy, these name its element types."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: Vectors and scores.
FloatArray = npt.NDArray[np.float32]
#: Item, user and concept indices.
IntArray = npt.NDArray[np.int32]
LongArray = npt.NDArray[np.int64]
