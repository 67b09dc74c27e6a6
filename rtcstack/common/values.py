"""``@value``: a frozen, slotted dataclass whose ``__init__`` is cheap.

Protocol values (STUN attributes, messages, later RTP headers) are built by the thousand per
second, and a plain ``@dataclass(frozen=True)`` pays for immutability at construction: its
generated ``__init__`` stores every field through ``object.__setattr__``, which costs 2-5x a
normal assignment (measured on CPython 3.11: 0.51 µs vs 0.21 µs for one field, 1.59 µs vs 0.29 µs
for seven).  ``@value`` keeps everything ``dataclass(frozen=True, slots=True)`` gives -- equality,
``repr``, hashing, ``dataclasses.replace``, and ``FrozenInstanceError`` on assignment -- and
replaces only ``__init__`` with one that stores each field through its slot descriptor directly.

Limits: fields may have plain defaults but not ``default_factory``, and there is no
``__post_init__``; ``@value`` refuses classes that need either.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar, dataclass_transform

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def value(cls: type[_T]) -> type[_T]:
    """Class decorator: ``dataclass(frozen=True, slots=True)`` with a fast ``__init__``."""
    cls = dataclasses.dataclass(frozen=True, slots=True)(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"@value does not support __post_init__ ({cls.__name__})")
    namespace: dict[str, Any] = {"_new_object": object.__new__}
    params, body = [], []
    for f in fields:
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"@value does not support default_factory ({cls.__name__}.{f.name})")
        setter = f"_set_{f.name}"
        namespace[setter] = getattr(cls, f.name).__set__
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        body.append(f"    {setter}(self, {f.name})")
    source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "    pass")
    exec(source, namespace)  # the same technique dataclasses itself uses to build __init__
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
