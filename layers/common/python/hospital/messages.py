"""Messages between functions: each one a frozen dataclass, declared once and shared by its
producer (which publishes an instance) and its consumer (which gets one back).

    @messages.declare
    @dataclasses.dataclass(frozen=True)
    class PaymentPaid(messages.Message):
        QUEUE = "payment-events"     # the outbox destination
        TYPE = "payment.paid"        # the wire name
        order_id: str

On the wire nothing changes: the outbox row keeps (destination, wire name, JSON data) and
the queue body `{"message_id", "type", "data", ...}`, so rows and queued messages written
before these classes existed decode as they are.

Versions: readers ignore data keys they do not know and fill fields left out with their
defaults, so adding a field with a default keeps the version. Any other change is a new
VERSION, sent under `<name>.v<version>`: the old class stays declared and still reads what is
already queued. Every message is version 1 today, sent under its bare name.

Only platform code lives here; each domain declares its own messages (hospital.rescue.messages,
hospital.payments.messages) into the one registry below.
"""
from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import ClassVar, Self

# wire name -> the class that reads it; filled by `declare` when a domain module is imported
REGISTRY: dict[str, type[Message]] = {}


class UnknownMessage(LookupError):
    """No declared message has this wire name."""


class MalformedMessage(ValueError):
    """A declared wire name whose data does not fit its class."""


@dataclasses.dataclass(frozen=True)
class Message:
    QUEUE: ClassVar[str] = ""  # the outbox destination (hospital.outbox.DESTINATIONS)
    TYPE: ClassVar[str] = ""  # the wire name
    VERSION: ClassVar[int] = 1  # the shape of the data (see above)

    def __post_init__(self) -> None:
        # A class is hashable; mypy checks it against the instances' __hash__ signature.
        for name, expected in _field_types(type(self)).items():  # type: ignore[arg-type]
            value = getattr(self, name)
            if not _fits(value, expected):
                raise TypeError(f"{type(self).__name__}.{name} must be {getattr(expected, '__name__', expected)},"
                                f" not {type(value).__name__}")

    @property
    def wire_type(self) -> str:
        return versioned(self.TYPE, self.VERSION)

    @classmethod
    def wire_types(cls) -> tuple[str, ...]:
        """Every wire name this class reads (one, unless the name carries a field)."""
        return (versioned(cls.TYPE, cls.VERSION),)

    def data(self) -> dict:
        """The JSON data; a field still at its default is left out, as producers always did."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.default is dataclasses.MISSING or getattr(self, f.name) != f.default}

    @classmethod
    def from_wire(cls, wire_type: str, data: dict) -> Self:
        return _build(cls, {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


def versioned(name: str, version: int) -> str:
    return name if version == 1 else f"{name}.v{version}"


def declare(cls: type[Message]) -> type[Message]:
    """Register a message class under each of its wire names; a name taken twice is refused."""
    # __dataclass_params__ is set by @dataclass, which mypy does not model
    if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
            and issubclass(cls, Message)):
        raise TypeError(f"{cls.__name__} must be a frozen dataclass deriving from Message")
    if not cls.QUEUE or not cls.TYPE or not isinstance(cls.VERSION, int) or cls.VERSION < 1:
        raise TypeError(f"{cls.__name__} needs QUEUE, TYPE and a VERSION of 1 or more")
    for name in cls.wire_types():
        if REGISTRY.get(name, cls) is not cls:
            raise ValueError(f"wire name {name!r} is declared by {REGISTRY[name].__name__} already")
    for name in cls.wire_types():
        REGISTRY[name] = cls
    return cls


def decode(body) -> Message:
    """A queue body -> its message. UnknownMessage when no declared class has the body's type;
    MalformedMessage when the body is no envelope or the data does not fit the class."""
    if not isinstance(body, dict):
        raise MalformedMessage("a message body must be an object")
    wire_type = body.get("type")
    if not isinstance(wire_type, str) or wire_type not in REGISTRY:
        raise UnknownMessage(wire_type)
    cls = REGISTRY[wire_type]
    data = body.get("data")
    if not isinstance(data, dict):
        raise MalformedMessage(f"{wire_type}: data must be an object")
    return cls.from_wire(wire_type, data)


M = typing.TypeVar("M", bound=Message)


def _build(cls: type[M], kwargs: dict) -> M:
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise MalformedMessage(f"{cls.__name__}: {exc}") from None


@functools.cache
def _field_types(cls) -> dict[str, object]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _fits(value, expected) -> bool:
    if isinstance(expected, types.UnionType) or typing.get_origin(expected) is typing.Union:
        return any(_fits(value, option) for option in typing.get_args(expected))
    if expected is type(None):
        return value is None
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)  # true is not order 1
    return isinstance(value, expected)
