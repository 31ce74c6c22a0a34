"""Release plan files: YAML in, a validated `Plan` out, or every error at once.

Validation runs in two passes. The first parses each section and each list
entry on its own (pydantic), so one bad service does not hide the errors of
the next. The second checks what the parts say about each other (unknown
dependency, cycle, unknown team or person...) over whatever parsed. Errors
carry a location such as `services[3].depends_on` and, when the plan came
from a file, its line.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from warroom.domain import graph as g
from warroom.domain.durations import parse_duration
from warroom.domain.lifecycle import DeployState
from warroom.domain.roles import Role
from warroom.domain.rules import Rule, RuleSyntaxError, parse_rule

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# ---------------------------------------------------------------- field types


def _to_duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected a duration such as 10m, got {value!r}")
    if isinstance(value, int):
        raise ValueError(f"bad duration {value}: add a unit, like {value}s or {value}m")
    delta = parse_duration(value)
    if delta <= timedelta(0):
        raise ValueError(f"duration {value!r} must be more than zero")
    return delta


def _to_instant(value: object) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"bad timestamp {value!r}: use ISO 8601 with a zone, like 2024-03-20T14:00:00Z"
            ) from None
    else:
        raise ValueError(f"expected a timestamp such as 2024-03-20T14:00:00Z, got {value!r}")
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!s} has no time zone: add Z or an offset like +01:00")
    return moment.astimezone(UTC)


def _to_name(value: object) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"expected a name, got {value!r}")
    text = str(value)
    if not NAME_PATTERN.match(text):
        raise ValueError(
            f"bad name {text!r}: use letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return text


def _to_text(value: object) -> str:
    # Versions like 2.0 or 3 arrive as numbers when written unquoted.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected text, got {value!r}")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)


def _to_ssh_key(value: object) -> str:
    """An OpenSSH public key line (`TYPE BASE64 [comment]`), checked now
    rather than when its owner first tries to connect on release day."""
    text = _to_text(value)
    parts = text.split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise ValueError(
            f"not an OpenSSH public key: expected 'TYPE BASE64 [comment]' with TYPE one of "
            f"{', '.join(KEY_TYPES[:3])}, ... (the line of a .pub file)"
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the {parts[0]} key's body is not valid base64") from None
    # The blob starts with its own type, length-prefixed: a pasted key cut
    # short or glued to the wrong type shows up here.
    length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if blob[4 : 4 + length].decode("ascii", "replace") != parts[0]:
        raise ValueError(f"the key's body does not hold an {parts[0]} key (copied incompletely?)")
    return text


def _to_role(value: object) -> Role:
    try:
        return Role(str(value))
    except ValueError:
        roles = ", ".join(role.value for role in Role)
        raise ValueError(f"unknown role {value!r}: use one of {roles}") from None


def _to_zone(value: object) -> str:
    zone = str(value)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {zone!r}: use an IANA name like UTC or Europe/Berlin"
        ) from None
    return zone


Zone = Annotated[str, BeforeValidator(_to_zone)]
Duration = Annotated[timedelta, BeforeValidator(_to_duration)]
Instant = Annotated[datetime, BeforeValidator(_to_instant)]
Name = Annotated[str, BeforeValidator(_to_name)]
Text = Annotated[str, BeforeValidator(_to_text)]
RoleField = Annotated[Role, BeforeValidator(_to_role)]
SshKey = Annotated[str, BeforeValidator(_to_ssh_key)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- the plan


class Window(_Spec):
    start: Instant
    end: Instant


class HealthCheck(_Spec):
    url: str
    interval: Duration = timedelta(seconds=5)
    timeout: Duration = timedelta(seconds=2)

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        if not re.match(r"^https?://[^\s/]+", url):
            raise ValueError(f"bad health url {url!r}: use http:// or https:// and a host")
        return url


class RollbackSpec(_Spec):
    command: Text | None = None
    expected_duration: Duration | None = None


class Person(_Spec):
    name: Name
    role: RoleField
    team: Name | None = None
    ssh_keys: tuple[SshKey, ...] = ()


class Service(_Spec):
    name: Name
    team: Name
    version: Text
    previous_version: Text | None = None
    depends_on: tuple[Name, ...] = ()
    expected_duration: Duration = timedelta(minutes=10)
    owner: Name | None = None
    health: HealthCheck | None = None
    rollback: RollbackSpec | None = None
    steps: tuple[Text, ...] | None = None


WATCHED_BY_DEFAULT = ("deploying", "verifying", "done")


def _to_state(value: object) -> str:
    names = [state.value for state in DeployState]
    if str(value) not in names:
        raise ValueError(f"unknown deploy state {value!r}: use one of {', '.join(names)}")
    return str(value)


StateName = Annotated[str, BeforeValidator(_to_state)]


class Trigger(_Spec):
    name: Name
    when: Text
    services: tuple[Name, ...] | None = None
    # Deploy states in which the rule watches a service: by default once it
    # is being deployed, not while it still runs the old version.
    states: tuple[StateName, ...] = WATCHED_BY_DEFAULT
    description: Text | None = None

    @property
    def rule(self) -> Rule:
        return parse_rule(self.when)


class Header(_Spec):
    release: Text
    manager: Name
    timezone: Zone = "UTC"
    window: Window
    rollback_until: Instant
    go_no_go_at: Instant
    default_steps: tuple[Text, ...] = ("Deploy", "Run smoke tests", "Verify")
    go_no_go: tuple[Text, ...] = ()
    readiness: dict[Name, tuple[Text, ...]] = Field(default_factory=dict)


class Plan(_Spec):
    """A validated release plan. Construct it with `load_plan`/`validate_plan`."""

    release: str
    manager: str
    timezone: str
    window: Window
    rollback_until: datetime
    go_no_go_at: datetime
    default_steps: tuple[str, ...]
    go_no_go: tuple[str, ...]
    readiness: dict[str, tuple[str, ...]]
    people: tuple[Person, ...]
    services: tuple[Service, ...]
    triggers: tuple[Trigger, ...]

    def steps_for(self, service: Service) -> tuple[str, ...]:
        return service.steps if service.steps is not None else self.default_steps

    def owner_of(self, service: Service) -> str | None:
        """The named owner, else the team's first on-call, else its first lead."""
        if service.owner:
            return service.owner
        for role in (Role.ONCALL, Role.TEAM_LEAD):
            for person in self.people:
                if person.team == service.team and person.role is role:
                    return person.name
        return None

    def graph(self) -> Any:
        return g.build_graph(
            [s.name for s in self.services], {s.name: s.depends_on for s in self.services}
        )

    @property
    def teams(self) -> list[str]:
        seen: dict[str, None] = {}
        for person in self.people:
            if person.team:
                seen.setdefault(person.team, None)
        for service in self.services:
            seen.setdefault(service.team, None)
        return list(seen)


# ---------------------------------------------------------------- errors


@dataclass(frozen=True)
class PlanIssue:
    location: str
    message: str
    line: int | None = None

    def render(self, source: str | None = None) -> str:
        where = ""
        if source and self.line:
            where = f"{source}:{self.line}: "
        elif source:
            where = f"{source}: "
        elif self.line:
            where = f"line {self.line}: "
        loc = f"{self.location}: " if self.location else ""
        return f"{where}{loc}{self.message}"


class PlanInvalid(Exception):
    """The plan has errors; `issues` lists every one of them."""

    def __init__(self, issues: Sequence[PlanIssue], source: str | None = None) -> None:
        # Reading order: by line where known (a stable sort keeps detection
        # order among equals), then what has no line.
        self.issues = sorted(issues, key=lambda i: (i.line is None, i.line or 0))
        self.source = source
        count = len(self.issues)
        super().__init__(f"{count} error{'s' if count != 1 else ''} in the plan")

    def render(self) -> str:
        return "\n".join(issue.render(self.source) for issue in self.issues)


Path = tuple[str | int, ...]


def _format_path(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass
class _Collector:
    lines: Mapping[Path, int] = field(default_factory=dict)
    issues: list[PlanIssue] = field(default_factory=list)

    def add(self, path: Path, message: str) -> None:
        line = None
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                break
        self.issues.append(PlanIssue(_format_path(path), message, line))

    def from_pydantic(self, prefix: Path, error: ValidationError) -> None:
        for item in error.errors():
            loc: Path = prefix + tuple(item["loc"])
            kind = item["type"]
            if kind == "extra_forbidden":
                self.add(loc, "unknown field (check the spelling against the plan format)")
            elif kind == "missing":
                self.add(loc, "required field is missing")
            else:
                message = str(item["msg"])
                message = message.removeprefix("Value error, ")
                self.add(loc, message)


_ADAPTERS: dict[tuple[type[BaseModel], str], TypeAdapter[Any]] = {}


def _adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    key = (model, name)
    if key not in _ADAPTERS:
        info = model.model_fields[name]
        # Built at run time from the model's own field, so mypy cannot follow it.
        _ADAPTERS[key] = TypeAdapter(Annotated[info.annotation, info])  # type: ignore[arg-type]
    return _ADAPTERS[key]


def _fields(
    out: _Collector, raw: Mapping[str, Any], model: type[BaseModel], path: Path
) -> dict[str, Any]:
    """Validate each field of `model` on its own, so that one bad field does
    not hide what the others say. Returns the fields that are valid; errors
    go to `out`."""
    values: dict[str, Any] = {}
    for key in raw:
        if key not in model.model_fields:
            out.add((*path, str(key)), "unknown field (check the spelling against the plan format)")
    for name, info in model.model_fields.items():
        if name not in raw:
            if info.is_required():
                out.add((*path, name), "required field is missing")
            continue
        try:
            values[name] = _adapter(model, name).validate_python(raw[name])
        except ValidationError as exc:
            out.from_pydantic((*path, name), exc)
    return values


@dataclass
class _Entry:
    """One list entry of the plan, with whatever of it validated."""

    index: int
    raw: Mapping[str, Any]
    values: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


def _entries(out: _Collector, raw: object, section: str, model: type[BaseModel]) -> list[_Entry]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        out.add((section,), f"expected a list, got {type(raw).__name__}")
        return []
    entries: list[_Entry] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            out.add((section, index), f"expected a mapping with a name, got {item!r}")
            continue
        entries.append(_Entry(index, item, _fields(out, item, model, (section, index))))
    return entries


def _duplicates(out: _Collector, section: str, entries: Sequence[_Entry], what: str) -> None:
    first_seen: dict[str, int] = {}
    for entry in entries:
        name = entry.get("name")
        if name is None:
            continue
        if name in first_seen:
            out.add(
                (section, entry.index, "name"),
                f"duplicate {what} name {name!r} (also {section}[{first_seen[name]}])",
            )
        else:
            first_seen[name] = entry.index


# ---------------------------------------------------------------- validation

_LIST_SECTIONS: dict[str, type[BaseModel]] = {
    "people": Person,
    "services": Service,
    "triggers": Trigger,
}


def validate_plan(data: object, lines: Mapping[Path, int] | None = None) -> Plan:
    """Validate raw plan data (as parsed from YAML) into a Plan, or raise
    PlanInvalid listing every error found."""
    out = _Collector(lines=lines or {})
    if not isinstance(data, dict):
        out.add((), "a plan is a YAML mapping with release, manager, window, people and services")
        raise PlanInvalid(out.issues)

    header = _fields(out, {k: v for k, v in data.items() if k not in _LIST_SECTIONS}, Header, ())
    sections = {
        name: _entries(out, data.get(name), name, model) for name, model in _LIST_SECTIONS.items()
    }
    for name in ("people", "services"):
        if name not in data:
            out.add((name,), "required field is missing")

    _check_references(out, header, sections["people"], sections["services"], sections["triggers"])

    if out.issues:
        raise PlanInvalid(out.issues)
    head = Header.model_validate(header)
    return Plan(
        **head.model_dump(exclude={"window"}),
        window=head.window,
        people=tuple(Person.model_validate(e.values) for e in sections["people"]),
        services=tuple(Service.model_validate(e.values) for e in sections["services"]),
        triggers=tuple(Trigger.model_validate(e.values) for e in sections["triggers"]),
    )


def _check_references(
    out: _Collector,
    header: Mapping[str, Any],
    people: list[_Entry],
    services: list[_Entry],
    triggers: list[_Entry],
) -> None:
    _duplicates(out, "people", people, "person")
    _duplicates(out, "services", services, "service")
    _duplicates(out, "triggers", triggers, "trigger")

    persons = {e.get("name"): e for e in people if e.get("name")}
    service_names = {e.get("name") for e in services if e.get("name")}
    teams = {e.get("team") for e in people if e.get("team")}

    for entry in people:
        role = entry.get("role")
        if role in {Role.TEAM_LEAD, Role.ONCALL} and entry.raw.get("team") is None:
            out.add(("people", entry.index, "team"), f"a {role.value} needs a team")

    manager = header.get("manager")
    if manager is not None:
        if manager not in persons:
            out.add(
                ("manager",), f"unknown person {manager!r}: the manager must be listed in people"
            )
        elif persons[manager].get("role") not in {None, Role.RELEASE_MANAGER}:
            role = persons[manager].get("role")
            out.add(
                ("manager",),
                f"{manager} is {role.value}; the manager's role must be release_manager",
            )
    window = header.get("window")
    rollback_until = header.get("rollback_until")
    go_no_go_at = header.get("go_no_go_at")
    if window is not None:
        if window.end <= window.start:
            out.add(("window", "end"), "the window ends before it starts")
        if rollback_until is not None and rollback_until < window.end:
            out.add(("rollback_until",), "the rollback window ends before the deploy window does")
        if go_no_go_at is not None and go_no_go_at > window.start:
            out.add(("go_no_go_at",), "the go/no-go meeting is after the deploy window starts")
    for team in header.get("readiness", {}):
        if team not in teams:
            out.add(("readiness", team), f"unknown team {team!r}: no person in people is on it")

    for entry in services:
        team = entry.get("team")
        if team is not None and team not in teams:
            out.add(
                ("services", entry.index, "team"),
                f"unknown team {team!r}: no person in people is on it",
            )
        owner = entry.get("owner")
        if owner is not None and owner not in persons:
            out.add(("services", entry.index, "owner"), f"unknown person {owner!r}")
        for dep_index, dep in enumerate(entry.get("depends_on", ())):
            if dep not in service_names:
                out.add(
                    ("services", entry.index, "depends_on", dep_index), f"unknown service {dep!r}"
                )
        health = entry.get("health")
        if health is not None and health.timeout >= health.interval:
            out.add(
                ("services", entry.index, "health", "timeout"),
                "the timeout must be shorter than the interval",
            )

    named = [e for e in services if e.get("name")]
    index_of = {e.get("name"): e.index for e in named}
    graph = g.build_graph(
        [e.get("name") for e in named], {e.get("name"): e.get("depends_on", ()) for e in named}
    )
    for cycle in g.find_cycles(graph):
        chain = " -> ".join([*cycle, cycle[0]])
        out.add(("services", index_of[cycle[0]], "depends_on"), f"dependency cycle: {chain}")

    for entry in triggers:
        when = entry.get("when")
        if when is not None:
            try:
                parse_rule(when)
            except RuleSyntaxError as exc:
                out.add(("triggers", entry.index, "when"), f"{exc} in {when!r}")
        for scope_index, name in enumerate(entry.get("services") or ()):
            if name not in service_names:
                out.add(
                    ("triggers", entry.index, "services", scope_index), f"unknown service {name!r}"
                )


# ---------------------------------------------------------------- YAML


# libyaml's parser when PyYAML was built with it (several times faster on
# big plans), the pure-Python one otherwise; both give the same nodes and marks.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _PlanLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """A safe loader that leaves timestamps and floats as written.

    Timestamps are parsed by the plan's own rules (a naive one is an error,
    not silently UTC), and `version: 2.10` must not become the float 2.1.
    """


_PlanLoader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:float"}
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _line_map(node: yaml.Node, out: _Collector, path: Path = ()) -> dict[Path, int]:
    lines: dict[Path, int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                out.issues.append(
                    PlanIssue(
                        _format_path((*path, key)),
                        "duplicate key: it is written twice",
                        key_node.start_mark.line + 1,
                    )
                )
            seen.add(key)
            lines.update(_line_map(value_node, out, (*path, key)))
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_line_map(item, out, (*path, index)))
    return lines


def parse_plan_text(text: str, source: str | None = None) -> Plan:
    """Parse and validate plan YAML; PlanInvalid carries `source` for messages."""
    out = _Collector()
    try:
        loader = _PlanLoader(text)
        try:
            node = loader.get_single_node()
            # Map lines (and spot duplicate keys) before construction: building
            # the document folds `<<: *anchor` merges into the mapping nodes.
            lines = _line_map(node, out) if node is not None else {}
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise PlanInvalid([PlanIssue("", f"not valid YAML: {exc.problem}", line)], source) from None
    except yaml.YAMLError as exc:
        raise PlanInvalid([PlanIssue("", f"not valid YAML: {exc}")], source) from None
    try:
        plan = validate_plan(data, lines)
    except PlanInvalid as exc:
        raise PlanInvalid(out.issues + exc.issues, source) from None
    if out.issues:
        raise PlanInvalid(out.issues, source)
    return plan


def load_plan(path: str) -> Plan:
    """Read and validate a plan file; PlanInvalid for any problem, including I/O."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise PlanInvalid([PlanIssue("", f"cannot read the plan: {exc.strerror}")], path) from None
    except UnicodeDecodeError:
        raise PlanInvalid([PlanIssue("", "the plan is not UTF-8 text")], path) from None
    return parse_plan_text(text, source=path)
