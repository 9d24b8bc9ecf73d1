"""jovay/_native/_maker.pyx, the one `Maker` that the decoder (_txcodec) and the transfer fast path
(_transfers) cimport: the objects it builds without calling the class are the ones the class builds
(equal, of the class, frozen where it is frozen), left out of the cyclic GC only when asked, and a class
it cannot build that way is called as usual."""

from __future__ import annotations

import dataclasses
import gc
import importlib
from types import ModuleType

import pytest

from jovay._native import pure_forced
from jovay.codec.blocks import Log


def _maker_module() -> ModuleType | None:
    if pure_forced():
        return None
    try:
        return importlib.import_module("jovay._native._maker")
    except ImportError:
        return None


maker = _maker_module()
pytestmark = pytest.mark.skipif(maker is None, reason="jovay._native._maker is not built or JOVAY_PURE=1")


@dataclasses.dataclass(frozen=True, slots=True)
class Frozen:
    a: int
    b: list[int]


@dataclasses.dataclass(slots=True)
class Checked:
    a: int

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("a must not be negative")


@dataclasses.dataclass(frozen=True)
class NoSlots:
    a: int


def test_builds_the_instance_the_class_builds() -> None:
    assert maker is not None
    make = maker.Maker(Frozen, ("a", "b"))
    built = make(1, [2])
    assert type(built) is Frozen and built == Frozen(1, [2])
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.a = 3  # type: ignore[misc]
    log = maker.Maker(Log, ("address", "topics", "data"))(b"\x01" * 20, [b"t"], b"d")
    assert type(log) is Log and log == Log(b"\x01" * 20, [b"t"], b"d")


def test_untracks_only_when_asked() -> None:
    assert maker is not None
    assert gc.is_tracked(maker.Maker(Frozen, ("a", "b"))(1, [2]))
    assert not gc.is_tracked(maker.Maker(Frozen, ("a", "b"), untrack=True)(1, [2]))


def test_calls_the_class_where_it_cannot_build_directly() -> None:
    """A __post_init__ (its check must run), no slots, or field names that differ: the class is called."""
    assert maker is not None
    with pytest.raises(ValueError, match="must not be negative"):
        maker.Maker(Checked, ("a",))(-1)
    assert maker.Maker(NoSlots, ("a",))(4) == NoSlots(4)
    with pytest.raises(TypeError):  # a field set the class does not have: its own call refuses it
        maker.Maker(Frozen, ("a",))(1)
