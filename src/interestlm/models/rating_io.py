"""Save and load any fitted rating model as a directory of ``.npy`` arrays and JSON (never pickle).

``model.json`` names the class, its constructor settings and its learned scalars; each learned
array is ``<name>.npy``; a learned sub-model (KNNBaseline's baseline, a stack's members) is a
sub-directory written the same way. :class:`~interestlm.models.rating_fused.FusedRating` keeps
its own format (``rating.json``), which a directory without ``model.json`` is read as, so
artifacts saved before the stack load unchanged. Loading sets the learned attributes: nothing is
refitted.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from interestlm.models.rating import SVD, BaselineOnly, GlobalMean, KNNBaseline, SVDpp
from interestlm.models.rating_autorec import AutoRec
from interestlm.models.rating_fused import FusedRating, RatingBlend

#: The classes a saved rating model may be, by the name ``model.json`` gives.
RATING_CLASSES: dict[str, type] = {
    cls.__name__: cls for cls in (GlobalMean, BaselineOnly, SVD, SVDpp, KNNBaseline, AutoRec, FusedRating, RatingBlend)
}

MODEL_FILE = "model.json"


def _settings(model: Any) -> dict[str, Any]:
    """The constructor arguments of ``model`` (a stack's member factories excepted)."""
    params = inspect.signature(type(model).__init__).parameters.values()
    keyword = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in params if p.kind in keyword and p.name not in ("self", "members")]
    return {name: getattr(model, name) for name in names}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def save_rating_model(model: Any, directory: Path | str) -> Path:
    """Write fitted ``model`` under ``directory`` (created); returns the directory."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    name = type(model).__name__
    if name not in RATING_CLASSES:
        raise TypeError(f"cannot save a {name}: not a rating model of interestlm.models")
    if isinstance(model, FusedRating):
        model.save(out)
        (out / MODEL_FILE).write_text(json.dumps({"class": name}) + "\n", encoding="utf-8")
        return out
    scalars: dict[str, Any] = {}
    arrays: list[str] = []
    children: list[str] = []
    for attr, value in vars(model).items():
        if not attr.endswith("_"):
            continue
        key = attr[:-1]
        if isinstance(value, np.ndarray):
            np.save(out / f"{key}.npy", value, allow_pickle=False)
            arrays.append(key)
        elif type(value).__name__ in RATING_CLASSES:
            save_rating_model(value, out / key)
            children.append(key)
        elif key == "models" and isinstance(model, RatingBlend):
            for member, fitted in value.items():
                save_rating_model(fitted, out / "members" / member)
            scalars["members"] = list(value)
        else:
            scalars[key] = [_plain(v) for v in value] if isinstance(value, tuple) else _plain(value)
    spec = {"class": name, "settings": _settings(model), "scalars": scalars, "arrays": arrays, "children": children}
    (out / MODEL_FILE).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return out


def _factory(model: Any) -> Callable[[], Any]:
    """A factory of an unfitted model with ``model``'s settings (a loaded stack's members)."""
    cls, settings = type(model), _settings(model)
    return lambda: cls(**settings)


def load_rating_model(directory: Path | str) -> Any:
    """The model :func:`save_rating_model` wrote, ready to predict (nothing is refitted)."""
    src = Path(directory)
    if not (src / MODEL_FILE).exists() or json.loads((src / MODEL_FILE).read_text(encoding="utf-8"))["class"] == (
        "FusedRating"
    ):
        return FusedRating.load(src)
    spec = json.loads((src / MODEL_FILE).read_text(encoding="utf-8"))
    cls = RATING_CLASSES[spec["class"]]
    scalars = dict(spec["scalars"])
    if cls is RatingBlend:
        fitted = {member: load_rating_model(src / "members" / member) for member in scalars.pop("members")}
        model: Any = RatingBlend({member: _factory(m) for member, m in fitted.items()}, **spec["settings"])
        model.models_ = fitted
    else:
        model = cls(**spec["settings"])
    for key, value in scalars.items():
        setattr(model, key + "_", tuple(value) if key == "scale" else value)
    for key in spec["arrays"]:
        setattr(model, key + "_", np.load(src / f"{key}.npy", allow_pickle=False))
    for key in spec["children"]:
        setattr(model, key + "_", load_rating_model(src / key))
    return model
