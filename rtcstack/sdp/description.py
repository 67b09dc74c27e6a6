"""RFC 8866 session descriptions, kept line for line.

A :class:`SessionDescription` is the session-level lines plus a list of :class:`MediaSection`.
Every section stores its lines as the text between ``x=`` line starts exactly as written, so
``serialize(parse(text)) == text`` for any well-formed description with CRLF line endings; lines
and attributes rtcstack does not know are carried along untouched.  Typed views
(:mod:`rtcstack.sdp.attributes`) are parsed on access, and edits through them (``set``, ``add``,
``remove``, the property setters) rewrite only the lines they concern.

Parsing checks the framing that everything else depends on (RFC 8866 §5 and §9): the first line
is ``v=0``; every line is ``<letter>=<text>`` with no NUL or stray CR; media sections start at
``m=`` lines that follow §5.14.  Attribute values are checked when they are read, and by
:meth:`SessionDescription.validate` (``rtcstack sdp check``), so that one odd line a browser
ignores does not make a whole description unreadable.

Line endings: RFC 8866 §5 says lines end with CRLF, but "parsers SHOULD be tolerant and also
accept records terminated with a single newline character".  rtcstack accepts LF-only (and mixed)
input, always writes CRLF, and records what it changed in :attr:`SessionDescription.normalised`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from rtcstack.sdp.attributes import (
    DIRECTIONS,
    REGISTRY,
    Attribute,
    Bandwidth,
    Candidate,
    Connection,
    ExtMap,
    Fingerprint,
    Fmtp,
    Group,
    IceOptions,
    MediaLine,
    Origin,
    RtcpFb,
    RtpMap,
    Timing,
)
from rtcstack.sdp.errors import SdpParseError

__all__ = ["MediaSection", "Section", "SessionDescription"]

_A = TypeVar("_A", bound=Attribute)
_T = TypeVar("_T")

_LINE_TYPES = frozenset("abcdefghijklmnopqrstuvwxyz")
_CONTROL = re.compile(r"[\x00\r]")


class Lines(list[str]):
    """A section's lines: a plain ``list`` of ``str`` that counts its own modifications, so the
    attribute index can tell in O(1) whether it is still valid after direct edits."""

    __slots__ = ("version",)

    def __init__(self, lines: Iterable[str] = ()) -> None:
        super().__init__(lines)
        self.version = 0


def _counting(name: str) -> Any:
    method = getattr(list, name)

    def mutate(self: Lines, *args: Any) -> Any:
        self.version += 1
        return method(self, *args)

    mutate.__name__ = name
    return mutate


for _name in ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend",
              "insert", "pop", "remove", "clear", "sort", "reverse"):
    setattr(Lines, _name, _counting(_name))


class Section:
    """Lines shared by the session part and each media section: attributes and ``c=``/``b=``.

    ``lines`` holds each line without its line ending (``"a=mid:0"``); ``first_line`` is the
    1-based number of ``lines[0]`` in the parsed text (line numbers refer to the text as parsed).
    """

    __slots__ = ("_derived", "_derived_at", "_index", "_indexed", "_lines", "_typed",
                 "first_line")

    def __init__(self, lines: list[str], first_line: int = 0) -> None:
        self._lines = Lines(lines)
        self.first_line = first_line
        self._indexed: tuple[int, int] | None = None  # (id, version) of the indexed lines
        self._index: dict[str, list[tuple[int, str | None]]] = {}
        self._typed: dict[type, list[Any]] = {}
        self._derived: dict[object, Any] = {}  # see ``cached``
        self._derived_at: tuple[int, int] | None = None  # (id, version) of those lines

    @property
    def lines(self) -> Lines:
        """The lines, without line endings; edit freely (a list of str)."""
        return self._lines

    @lines.setter
    def lines(self, lines: Iterable[str]) -> None:
        self._lines = Lines(lines)
        self._indexed = None
        self._derived_at = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Section) or type(self) is not type(other):
            return False
        return self.lines == other.lines

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by content: unhashable

    def compact(self) -> None:
        """Forget the attribute index and every parsed or derived value (they are rebuilt on
        the next read): for a description kept long after it was read, such as a peer
        connection's current ones, whose caches outweigh its lines several times."""
        self._indexed = self._derived_at = None
        self._index, self._typed, self._derived = {}, {}, {}

    def line_number(self, index: int) -> int | None:
        """The 1-based line number of ``lines[index]`` in the parsed text (None if built)."""
        return self.first_line + index if self.first_line else None

    # -- raw access --------------------------------------------------------------------------

    def values(self, kind: str) -> list[str]:
        """The text of every ``<kind>=`` line (``"c"``, ``"b"``, ``"i"``...) in order."""
        prefix = kind + "="
        return [line[2:] for line in self.lines if line.startswith(prefix)]

    def attributes(self) -> Iterator[tuple[str, str | None]]:
        """Every ``a=`` line as ``(name, value)``; ``value`` is None for property attributes."""
        for line in self.lines:
            if line.startswith("a="):
                name, colon, val = line[2:].partition(":")
                yield name, (val if colon else None)

    def _attribute_index(self) -> dict[str, list[tuple[int, str | None]]]:
        """``name -> [(line index, value)]`` for the ``a=`` lines, built in one pass and reused
        while ``lines`` is unchanged (``lines`` counts its own edits, so direct edits are seen)."""
        lines = self._lines
        if self._indexed == (id(lines), lines.version):
            return self._index
        index: dict[str, list[tuple[int, str | None]]] = {}
        for number, line in enumerate(lines):
            if line.startswith("a="):
                name, colon, val = line[2:].partition(":")
                entry = (number, val if colon else None)
                found = index.get(name)
                if found is None:
                    index[name] = [entry]
                else:
                    found.append(entry)
        self._index = index
        self._typed = {}
        self._indexed = (id(lines), lines.version)
        return index

    def _find(self, name: str) -> list[tuple[int, str | None]]:
        return self._attribute_index().get(name, [])

    def cached(self, key: object, compute: Callable[[], _T]) -> _T:
        """``compute()``, kept until the lines change: for values derived from them (the
        parsed ``m=`` line, a section's codecs) that negotiation reads many times."""
        lines = self._lines
        stamp = (id(lines), lines.version)
        if self._derived_at != stamp:
            self._derived = {}
            self._derived_at = stamp
        try:
            return self._derived[key]  # type: ignore[no-any-return]
        except KeyError:
            result = self._derived[key] = compute()
            return result

    def attribute(self, name: str) -> str | None:
        """The value of the first ``a=<name>:<value>`` line, or None (absent or a flag)."""
        found = self._find(name)
        return found[0][1] if found else None

    def attribute_values(self, name: str) -> list[str]:
        """The values of every ``a=<name>:<value>`` line, in order."""
        return [val for _, val in self._find(name) if val is not None]

    def has(self, name: str) -> bool:
        """True when an ``a=<name>`` (flag) or ``a=<name>:...`` line is present."""
        return bool(self._find(name))

    # -- typed access ------------------------------------------------------------------------

    def get(self, cls: type[_A]) -> list[_A]:
        """Every ``a=<cls.NAME>`` line parsed as ``cls``; SdpParseError names the line."""
        found = self._attribute_index().get(cls.NAME)
        if not found:
            return []
        cached = self._typed.get(cls)
        if cached is not None:
            return list(cached)
        parse = cls.parse
        result = []
        for index, val in found:
            try:
                if val is None:
                    raise SdpParseError(f"a={cls.NAME} has no value")
                result.append(parse(val))
            except SdpParseError as error:
                raise error.at_line(self.line_number(index)) from None
        self._typed[cls] = result
        return list(result)

    def first(self, cls: type[_A]) -> _A | None:
        """The first ``a=<cls.NAME>`` line parsed as ``cls``, or None."""
        found = self._attribute_index().get(cls.NAME)
        if not found:
            return None
        cached = self._typed.get(cls)
        if cached is not None:
            return cached[0]  # type: ignore[no-any-return]
        index, val = found[0]
        try:
            if val is None:
                raise SdpParseError(f"a={cls.NAME} has no value")
            return cls.parse(val)
        except SdpParseError as error:
            raise error.at_line(self.line_number(index)) from None

    # -- editing -----------------------------------------------------------------------------

    def _insert_at(self, name: str) -> int:
        """Where a new ``a=<name>`` line goes: after the last line of that name, else at the end."""
        last = None
        for index, _ in self._find(name):
            last = index
        return len(self.lines) if last is None else last + 1

    def add(self, attr: Attribute) -> None:
        """Append ``a=<NAME>:<value>`` after the other lines of the same attribute."""
        self.add_attribute(attr.NAME, attr.serialize())

    def add_attribute(self, name: str, val: str | None = None) -> None:
        """Append a raw attribute line (``val`` None writes a flag ``a=<name>``)."""
        line = f"a={name}" if val is None else f"a={name}:{val}"
        at = self._insert_at(name)  # the index is current here
        lines = self._lines
        lines.insert(at, line)
        # Keep the index current instead of letting the next look-up rebuild it: a section
        # built attribute by attribute (every offer and answer) was re-indexed after each line.
        index = self._index
        if at < len(lines) - 1:
            for entries in index.values():
                for i, (number, old) in enumerate(entries):
                    if number >= at:
                        entries[i] = (number + 1, old)
        index.setdefault(name, []).append((at, val))
        self._typed = {}
        self._indexed = (id(lines), lines.version)

    def set(self, attr: Attribute) -> None:
        """Replace every ``a=<NAME>`` line with this one value (added when absent)."""
        self.set_attribute(attr.NAME, attr.serialize())

    def set_attribute(self, name: str, val: str | None) -> None:
        line = f"a={name}" if val is None else f"a={name}:{val}"
        indexes = [index for index, _ in self._find(name)]
        if not indexes:
            self.lines.insert(self._insert_at(name), line)
            return
        self.lines[indexes[0]] = line
        for index in reversed(indexes[1:]):
            del self.lines[index]

    def remove(self, name: str | type[Attribute],
               where: Callable[[Any], bool] | None = None) -> int:
        """Remove ``a=<name>`` lines (all, or those whose typed value satisfies ``where``).

        ``name`` is an attribute name or a typed class; ``where`` needs the class.  Returns how
        many lines were removed.
        """
        attr_name = name if isinstance(name, str) else name.NAME
        doomed = []
        for index, val in self._find(attr_name):
            if where is not None:
                if isinstance(name, str):
                    raise TypeError("remove(where=...) needs a typed attribute class")
                if val is None or not where(name.parse(val)):
                    continue
            doomed.append(index)
        for index in reversed(doomed):
            del self.lines[index]
        return len(doomed)

    def set_flag(self, name: str, present: bool = True) -> None:
        """Add or remove a property attribute (``a=rtcp-mux``)."""
        if present:
            if not self.has(name):
                self.add_attribute(name)
        else:
            self.remove(name)

    def _set_line(self, kind: str, text: str | None, after: str) -> None:
        """Set the single ``<kind>=`` line (None removes it), placing a new one after the last
        line whose type is in ``after`` (RFC 8866 §5 fixes the order of lines)."""
        prefix = kind + "="
        for index, line in enumerate(self.lines):
            if line.startswith(prefix):
                if text is None:
                    del self.lines[index]
                else:
                    self.lines[index] = prefix + text
                return
        if text is None:
            return
        position = 0
        for index, line in enumerate(self.lines):
            if line[0] in after:
                position = index + 1
        self.lines.insert(position, prefix + text)

    # -- the lines WebRTC uses ---------------------------------------------------------------

    @property
    def connection(self) -> Connection | None:
        """RFC 8866 §5.7 ``c=`` (the first one)."""
        for index, text in enumerate(self.lines):
            if text.startswith("c="):
                try:
                    return Connection.parse(text[2:])
                except SdpParseError as error:
                    raise error.at_line(self.line_number(index)) from None
        return None

    @property
    def bandwidths(self) -> list[Bandwidth]:
        """RFC 8866 §5.8 ``b=`` lines (``AS``, ``TIAS``, ``CT``, ``RS``, ``RR``)."""
        result = []
        for index, text in enumerate(self.lines):
            if text.startswith("b="):
                try:
                    result.append(Bandwidth.parse(text[2:]))
                except SdpParseError as error:
                    raise error.at_line(self.line_number(index)) from None
        return result

    def bandwidth(self, kind: str) -> int | None:
        """The ``b=<kind>:`` value (``AS`` kbit/s, ``TIAS`` bit/s), or None."""
        for bw in self.bandwidths:
            if bw.type == kind:
                return bw.bandwidth
        return None

    @property
    def ice_ufrag(self) -> str | None:
        return self.attribute("ice-ufrag")

    @property
    def ice_pwd(self) -> str | None:
        return self.attribute("ice-pwd")

    @property
    def ice_options(self) -> tuple[str, ...]:
        options = self.first(IceOptions)
        return () if options is None else options.options

    @property
    def fingerprints(self) -> list[Fingerprint]:
        return self.get(Fingerprint)

    @property
    def setup(self) -> str | None:
        """RFC 8842 §5 ``a=setup`` role, or None."""
        return self.attribute("setup")

    @property
    def direction(self) -> str | None:
        """RFC 8866 §6.7: the direction attribute present here, or None (see ``effective``)."""
        return self.cached("direction", self._find_direction)  # negotiation asks many times

    @direction.setter
    def direction(self, direction: str) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction {direction!r} is not one of {DIRECTIONS}")
        for index, line in enumerate(self.lines):
            if line.startswith("a=") and line[2:] in DIRECTIONS:
                self.lines[index] = "a=" + direction
                return
        self.add_attribute(direction)

    def _find_direction(self) -> str | None:
        for line in self.lines:
            if line.startswith("a=") and line[2:] in DIRECTIONS:
                return line[2:]
        return None

    @property
    def extmaps(self) -> list[ExtMap]:
        return self.get(ExtMap)

    @property
    def extmap_allow_mixed(self) -> bool:
        """RFC 8285 §6 ``a=extmap-allow-mixed``."""
        return self.has("extmap-allow-mixed")


class MediaSection(Section):
    """RFC 8866 §5.14: an ``m=`` line and the lines after it up to the next ``m=``.

    ``lines[0]`` is the ``m=`` line.  Properties give typed access to what WebRTC uses.
    """

    __slots__ = ()

    @classmethod
    def new(cls, media: MediaLine) -> MediaSection:
        return cls(["m=" + media.serialize()])

    @property
    def media(self) -> MediaLine:
        return self.cached(MediaLine, self._parse_media)

    @media.setter
    def media(self, media: MediaLine) -> None:
        self.lines[0] = "m=" + media.serialize()

    def _parse_media(self) -> MediaLine:
        try:
            return MediaLine.parse(self.lines[0][2:])
        except SdpParseError as error:
            raise error.at_line(self.line_number(0)) from None

    @property
    def kind(self) -> str:
        return self.lines[0][2:].partition(" ")[0]

    @property
    def port(self) -> int:
        return self.media.port

    @property
    def protocol(self) -> str:
        return self.media.protocol

    @property
    def formats(self) -> tuple[str, ...]:
        return self.media.formats

    @property
    def rejected(self) -> bool:
        """RFC 3264 §6: a port of zero rejects (or disables) the stream."""
        return self.media.port == 0

    @property
    def mid(self) -> str | None:
        """RFC 5888 §4 ``a=mid``."""
        return self.attribute("mid")

    @mid.setter
    def mid(self, mid: str) -> None:
        self.set_attribute("mid", mid)

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        """``a=rtpmap`` by payload type."""
        return {m.payload_type: m for m in self.get(RtpMap)}

    @property
    def fmtps(self) -> dict[int, Fmtp]:
        """``a=fmtp`` by payload type (the first one when a type has several)."""
        result: dict[int, Fmtp] = {}
        for fmtp in self.get(Fmtp):
            result.setdefault(fmtp.payload_type, fmtp)
        return result

    @property
    def rtcp_fbs(self) -> list[RtcpFb]:
        return self.get(RtcpFb)

    @property
    def candidates(self) -> list[Candidate]:
        return self.get(Candidate)

    @property
    def end_of_candidates(self) -> bool:
        return self.has("end-of-candidates")

    @property
    def rtcp_mux(self) -> bool:
        return self.has("rtcp-mux")

    @property
    def bundle_only(self) -> bool:
        return self.has("bundle-only")

    def __repr__(self) -> str:
        return f"MediaSection({self.lines[0]!r}, mid={self.mid!r}, {len(self.lines)} lines)"


class SessionDescription:
    """RFC 8866 §5: a whole session description.

    ``session`` holds the session-level lines (``v=`` ... up to the first ``m=``); ``media`` the
    media sections in order.  :meth:`parse` / :meth:`serialize` round-trip byte for byte.
    """

    __slots__ = ("media", "normalised", "session")

    def __init__(self, session: Section, media: list[MediaSection] | None = None,
                 normalised: tuple[str, ...] = ()) -> None:
        self.session = session
        self.media: list[MediaSection] = [] if media is None else media
        self.normalised = normalised

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, SessionDescription) and self.session == other.session
                and self.media == other.media)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SessionDescription({len(self.media)} media sections)"

    # -- the codec ---------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> SessionDescription:
        """RFC 8866 §5/§9: split ``text`` into its session and media sections.

        Raises :class:`SdpParseError` (with the line number) when the framing is broken.
        """
        if not isinstance(text, str):
            raise TypeError("SessionDescription.parse takes str; decode bytes as UTF-8 first")
        normalised: list[str] = []
        crlf = text.count("\r\n")
        lf_only = crlf != text.count("\n")
        if lf_only:
            normalised.append("LF line endings were written as CRLF" if crlf == 0
                              else "mixed CRLF/LF line endings were written as CRLF")
            text = text.replace("\r\n", "\n")
            lines = text.split("\n")
        else:
            lines = text.split("\r\n")
        if lines[-1] == "":
            lines.pop()
        elif lines[-1]:
            normalised.append("a line ending was added after the last line")
        if not lines:
            raise SdpParseError("the description is empty", 1)
        if lines[0] != "v=0":
            raise SdpParseError(f"the first line must be 'v=0' (RFC 8866 §5.1), not "
                                f"{lines[0][:40]!r}", 1)
        # After the split no line may hold a CR (a bare CR is not a line ending) or a NUL.
        if "\x00" in text or text.count("\r") != (0 if lf_only else crlf):
            bad = next((i for i, line in enumerate(lines) if _CONTROL.search(line)), 0)
            raise SdpParseError("a line contains NUL or a CR that does not end it", bad + 1)
        starts = []
        for number, line in enumerate(lines):
            if len(line) < 2 or line[1] != "=" or line[0] not in _LINE_TYPES:
                if not line:
                    raise SdpParseError("empty line (RFC 8866 §5: no blank lines)", number + 1)
                raise SdpParseError(f"line is not '<letter>=<value>': {line[:40]!r}", number + 1)
            if line[0] == "m":
                starts.append(number)
        session = Section(lines[: starts[0]] if starts else lines, 1)
        media = []
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(lines)
            section = MediaSection(lines[start:end], start + 1)
            section.media  # noqa: B018 - RFC 8866 §5.14: the m= line frames everything after it
            media.append(section)
        return cls(session, media, tuple(normalised))

    def serialize(self) -> str:
        """The description as text, every line ending in CRLF (RFC 8866 §5)."""
        lines = list(self.session.lines)
        for section in self.media:
            lines += section.lines
        return "\r\n".join(lines) + "\r\n"

    __str__ = serialize

    def compact(self) -> None:
        """:meth:`Section.compact` for the session part and every media section."""
        for section in (self.session, *self.media):
            section.compact()

    def copy(self) -> SessionDescription:
        """An independent copy (editing it leaves this one alone)."""
        return SessionDescription(
            Section(list(self.session.lines), self.session.first_line),
            [MediaSection(list(m.lines), m.first_line) for m in self.media],
            self.normalised,
        )

    @classmethod
    def new(cls, origin: Origin, session_name: str = "-",
            timing: Timing | None = None) -> SessionDescription:
        """A description with only the mandatory session lines (RFC 8866 §5)."""
        return cls(Section(["v=0", "o=" + origin.serialize(), "s=" + session_name,
                            "t=" + (timing or Timing()).serialize()]))

    # -- session-level typed access ----------------------------------------------------------

    @property
    def origin(self) -> Origin:
        """RFC 8866 §5.2 ``o=``."""
        for index, line in enumerate(self.session.lines):
            if line.startswith("o="):
                try:
                    return Origin.parse(line[2:])
                except SdpParseError as error:
                    raise error.at_line(self.session.line_number(index)) from None
        raise SdpParseError("there is no o= line (RFC 8866 §5.2)")

    @origin.setter
    def origin(self, origin: Origin) -> None:
        self.session._set_line("o", origin.serialize(), "v")

    @property
    def session_name(self) -> str | None:
        names = self.session.values("s")
        return names[0] if names else None

    @property
    def timing(self) -> Timing | None:
        for index, line in enumerate(self.session.lines):
            if line.startswith("t="):
                try:
                    return Timing.parse(line[2:])
                except SdpParseError as error:
                    raise error.at_line(self.session.line_number(index)) from None
        return None

    @property
    def groups(self) -> list[Group]:
        """RFC 5888 §5 ``a=group`` lines."""
        return self.session.get(Group)

    def bundle_groups(self) -> list[tuple[str, ...]]:
        """RFC 9143 §7.1: the mids of each ``a=group:BUNDLE`` (first mid is offerer-tagged)."""
        return [g.mids for g in self.groups if g.semantics == "BUNDLE"]

    @property
    def ice_lite(self) -> bool:
        """RFC 8839 §5.3 ``a=ice-lite`` (session level only)."""
        return self.session.has("ice-lite")

    @property
    def extmap_allow_mixed(self) -> bool:
        return self.session.has("extmap-allow-mixed")

    def section(self, mid: str) -> MediaSection | None:
        """The media section with ``a=mid:<mid>``, or None."""
        for section in self.media:
            if section.mid == mid:
                return section
        return None

    # -- values that fall back from media to session level -----------------------------------

    def effective(self, media: MediaSection, name: str) -> str | None:
        """The value of ``a=<name>`` in ``media``, else at session level (RFC 8866 §6: a
        session-level attribute is the default for every media section)."""
        val = media.attribute(name)
        return self.session.attribute(name) if val is None else val

    def ice_credentials(self, media: MediaSection) -> tuple[str | None, str | None]:
        """RFC 8839 §5.4: ``(ice-ufrag, ice-pwd)`` for a media section, session level as default."""
        return self.effective(media, "ice-ufrag"), self.effective(media, "ice-pwd")

    def fingerprints_for(self, media: MediaSection) -> list[Fingerprint]:
        """RFC 8122 §5: media-level fingerprints, else the session-level ones."""
        return media.fingerprints or self.session.fingerprints

    def setup_for(self, media: MediaSection) -> str | None:
        return self.effective(media, "setup")

    def direction_for(self, media: MediaSection) -> str:
        """RFC 8866 §6.7: media-level direction, else session-level, else ``sendrecv``."""
        return media.direction or self.session.direction or "sendrecv"

    def ice_options_for(self, media: MediaSection) -> tuple[str, ...]:
        return media.ice_options or self.session.ice_options

    def connection_for(self, media: MediaSection) -> Connection | None:
        return media.connection or self.session.connection

    # -- checking everything -----------------------------------------------------------------

    def sections(self) -> Iterator[Section]:
        """The session section, then every media section."""
        yield self.session
        yield from self.media

    def typed_attributes(self) -> Iterator[tuple[Section, int, str, str | None, object]]:
        """Every ``a=`` line as ``(section, index, name, value, typed)``, where ``typed`` is the
        parsed value (an attribute object), the raw value when rtcstack has no type for it, or an
        :class:`SdpParseError` when the value does not follow its grammar."""
        for section in self.sections():
            for index, line in enumerate(section.lines):
                if not line.startswith("a="):
                    continue
                name, colon, val = line[2:].partition(":")
                cls = REGISTRY.get(name)
                typed: object = val if colon else None
                if cls is not None:
                    try:
                        if not colon:
                            raise SdpParseError(f"a={name} has no value")
                        typed = cls.parse(val)
                    except SdpParseError as error:
                        typed = error.at_line(section.line_number(index))
                yield section, index, name, (val if colon else None), typed

    def parse_errors(self) -> list[SdpParseError]:
        """Every line whose value does not follow its grammar (the lines themselves are kept)."""
        errors: list[SdpParseError] = []
        checks: tuple[tuple[str, Callable[[str], object]], ...] = (
            ("o", Origin.parse), ("c", Connection.parse), ("b", Bandwidth.parse),
            ("t", Timing.parse),
        )
        for section in self.sections():
            for index, line in enumerate(section.lines):
                for kind, parse in checks:
                    if line[0] == kind:
                        try:
                            parse(line[2:])
                        except SdpParseError as error:
                            errors.append(error.at_line(section.line_number(index)))
        for _, _, _, _, typed in self.typed_attributes():
            if isinstance(typed, SdpParseError):
                errors.append(typed)
        return errors

    # -- a JSON-friendly model ---------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The whole description as plain data (``rtcstack sdp show --json``): every line in
        order, with its typed fields when rtcstack knows the line, and any grammar error."""
        return {
            "session": _describe_section(self.session),
            "media": [_describe_section(m) for m in self.media],
            "normalised": list(self.normalised),
        }


_LINE_CLASSES: dict[str, Callable[[str], object]] = {
    "o": Origin.parse, "c": Connection.parse, "b": Bandwidth.parse, "t": Timing.parse,
    "m": MediaLine.parse,
}


def _fields(obj: object) -> Any:
    """Plain data for a typed value (dataclass fields, recursively)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: _fields(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_fields(item) for item in obj]
    return obj


def _describe_section(section: Section) -> list[dict[str, Any]]:
    result = []
    for index, line in enumerate(section.lines):
        entry: dict[str, Any] = {"line": section.line_number(index), "type": line[0]}
        typed: object = None
        try:
            if line[0] == "a":
                name, colon, val = line[2:].partition(":")
                entry["name"] = name
                entry["value"] = val if colon else None
                cls = REGISTRY.get(name)
                if cls is not None:
                    if not colon:
                        raise SdpParseError(f"a={name} has no value")
                    typed = cls.parse(val)
            else:
                entry["value"] = line[2:]
                parse = _LINE_CLASSES.get(line[0])
                if parse is not None:
                    typed = parse(line[2:])
        except SdpParseError as error:
            entry["error"] = error.reason
        if typed is not None:
            entry["fields"] = _fields(typed)
        result.append(entry)
    return result
