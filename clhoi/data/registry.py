"""Datasets by name: how to read a split's ground truth, which classes are scored, and by which protocol.

The engine (``clhoi eval``, ``clhoi predict``) and ``clhoi evaluate`` reach every
dataset through :func:`get_dataset`; none of them names a dataset's module.
HICO-DET and V-COCO are built in. Any other dataset registers itself:

* as a plug-in, with an entry point in the ``clhoi.datasets`` group of its
  package metadata, naming a :class:`DatasetSpec` (or a function returning one).
  The sandbox does so in clhoi's own ``pyproject.toml``::

      [project.entry-points."clhoi.datasets"]
      sandbox = "clhoi.sandbox.dataset:SANDBOX"

  Entry points are read only when a name is not registered yet, so the sandbox
  is imported only when it is asked for (after editing entry points, reinstall
  the package: ``pip install -e .``);
* or in-process, with :func:`register_dataset` (tests, notebooks).

This module imports no dataset, no model and no torch; a spec's functions
import what they need when called.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from clhoi.labelset import LabelSet
    from clhoi.structures import ImageAnnotation
    from clhoi.vocab import HOILabelSpace

ENTRY_POINT_GROUP = "clhoi.datasets"
PROTOCOLS: tuple[str, ...] = ("hicodet", "vcoco")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset as the engine and the evaluators see it.

    Attributes:
        name: what ``--dataset`` and ``data.dataset`` say.
        protocol: the official evaluation that scores it: ``hicodet`` (HICO-DET mAP,
            Default and Known-Object) or ``vcoco`` (V-COCO role and agent AP).
        read_annotations: ``(path, coco_instances=None, tensors=True) -> list[ImageAnnotation]``:
            a split's ground truth, in the class ids of the file (``tensors=False``:
            NumPy arrays, without importing torch).
        label_space: ``() -> HOILabelSpace``: the classes scored (``None`` for V-COCO,
            whose evaluator has its own 29 classes).
        label_set: ``(prompt_template, verb_template) -> LabelSet``: the text of each scored class.
        to_scored_classes: ground truth in the file's class ids -> in the scored label
            space; ``None`` when they are the same.
        default_annotations: ``() -> Path``: the test annotations used when none are
            given (HICO-DET: the shipped copy); ``None``: always required.
        description: one line for help texts.
    """

    name: str
    protocol: str
    read_annotations: Callable[..., list[ImageAnnotation]]
    label_space: Callable[[], HOILabelSpace | None]
    label_set: Callable[[str, str], LabelSet]
    to_scored_classes: Callable[[list[ImageAnnotation]], list[ImageAnnotation]] | None = None
    default_annotations: Callable[[], Path] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"dataset {self.name!r}: protocol must be one of {', '.join(PROTOCOLS)}, "
                             f"got {self.protocol!r}")

    def scored_ground_truth(self, annotations: list[ImageAnnotation]) -> list[ImageAnnotation]:
        """Ground truth in the file's class ids -> in the label space the protocol scores."""
        return annotations if self.to_scored_classes is None else self.to_scored_classes(annotations)


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec, replace: bool = False) -> DatasetSpec:
    """Make ``spec`` reachable by its name; a second spec under a taken name needs ``replace=True``."""
    if not isinstance(spec, DatasetSpec):
        raise TypeError(f"register_dataset needs a DatasetSpec, got {type(spec).__name__}")
    old = _REGISTRY.get(spec.name)
    if old is not None and old is not spec and not replace:
        raise ValueError(f"a dataset named {spec.name!r} is already registered; pass replace=True to replace it")
    _REGISTRY[spec.name] = spec
    return spec


def _plugins() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def dataset_names() -> tuple[str, ...]:
    """Built-in, registered and plug-in dataset names (plug-ins are listed, not imported)."""
    return tuple(dict.fromkeys([*_REGISTRY, *_plugins()]))


def get_dataset(name: str) -> DatasetSpec:
    """The dataset called ``name``; a plug-in is imported and registered on first use.

    Raises:
        ValueError: no such dataset (the message lists the known names).
    """
    spec = _REGISTRY.get(name)
    if spec is not None:
        return spec
    ep = _plugins().get(name)
    if ep is None:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(dataset_names())} (other datasets register "
                         f"through the {ENTRY_POINT_GROUP!r} entry point group, see clhoi/data/registry.py)")
    obj = ep.load()
    spec = obj if isinstance(obj, DatasetSpec) else obj()
    if not isinstance(spec, DatasetSpec) or spec.name != name:
        raise ValueError(f"the {ENTRY_POINT_GROUP} entry point {name!r} ({ep.value}) does not give a DatasetSpec "
                         f"named {name!r}")
    return register_dataset(spec)


# --------------------------------------------------------------------------- built-in datasets
def _read_hicodet(path: str | Path, coco_instances: str | Path | None = None, tensors: bool = True) -> list:
    from clhoi.data.hicodet import read_hicodet

    if not tensors and str(path).endswith(".json.gz"):  # the shipped test set: its pre-read copy, if made from it
        from clhoi.data.hicodet_compact import read_compact

        data = read_compact(path)
        if data is not None:
            return data.images
    return read_hicodet(path, tensors=tensors)


def _read_vcoco(path: str | Path, coco_instances: str | Path | None = None, tensors: bool = True) -> list:
    from clhoi.data.vcoco import read_vcoco

    return read_vcoco(path, coco_instances, tensors=tensors)


def _hicodet_space() -> HOILabelSpace:
    from clhoi import vocab

    return vocab.hicodet()


def _hicodet_label_set(prompt_template: str, verb_template: str) -> LabelSet:
    from clhoi.labelset import LabelSet

    return LabelSet.hicodet(prompt_template)


def _vcoco_label_set(prompt_template: str, verb_template: str) -> LabelSet:
    from clhoi.labelset import LabelSet

    return LabelSet.vcoco(verb_template)


def _shipped_hicodet_test() -> Path:
    from clhoi.data.hicodet import shipped_test_annotations

    return shipped_test_annotations()


HICODET = register_dataset(DatasetSpec(
    "hicodet", "hicodet", _read_hicodet, _hicodet_space, _hicodet_label_set,
    default_annotations=_shipped_hicodet_test,
    description="HICO-DET: 600 classes, official mAP (Default, Known-Object); test annotations ship with clhoi",
))
VCOCO = register_dataset(DatasetSpec(
    "vcoco", "vcoco", _read_vcoco, lambda: None, _vcoco_label_set,
    description="V-COCO: 29 (action, role) classes, official role AP (scenarios 1 and 2) and agent AP",
))
