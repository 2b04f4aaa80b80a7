"""JSON encoding shared by the golden-value scripts of this folder (run as scripts: the folder is
on sys.path). NaN and the infinities are the strings "nan", "inf" and "-inf", which the
TypeScript tests decode."""
import math

import numpy as np


def json_float(x, float32=True):
    """`x` as a JSON number: the shortest decimal that rounds back to the same float32 (or, with
    `float32=False`, the float64 as it is)."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(str(np.float32(x))) if float32 else x
