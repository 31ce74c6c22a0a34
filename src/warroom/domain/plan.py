"""Release plans: YAML text in, a validated `Plan` out, or every error at once.

Reading the text from a file (bounds, decoding) is warroom.planfile's job:
the domain does no I/O.

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
import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from cryptography.hazmat.primitives.serialization import load_ssh_public_identity
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from warroom.domain import gates, limits
from warroom.domain import graph as g
from warroom.domain import metrics as mx
from warroom.domain import notify as nt
from warroom.domain.durations import parse_duration
from warroom.domain.lifecycle import DeployState
from warroom.domain.roles import SYSTEM_NAME, Role
from warroom.domain.rules import (
    DEFAULT_INCONCLUSIVE_AFTER,
    HealthRule,
    NoData,
    Rule,
    RuleOptions,
    RuleSyntaxError,
    parse_rule,
)

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
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is before the year 1 in UTC
        moment = limits.EARLIEST - timedelta(days=1)
    if not limits.EARLIEST <= moment < limits.LATEST:
        raise ValueError(
            f"timestamp {value!s} is out of range: use a time between "
            f"{limits.EARLIEST.year} and {limits.LATEST.year - 1}"
        )
    return moment


def _shown(text: str, limit: int = 40) -> str:
    """`text` quoted for a message, cut short: errors are one line, not the input."""
    return repr(text) if len(text) <= limit else repr(text[: limit - 3] + "...")


def _got(value: object) -> str:
    """What a value of the wrong kind is, for a message, without printing all of it."""
    if isinstance(value, str):
        return _shown(value)
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return "a very long number"
    return _shown(repr(value))


def _to_name(value: object) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"expected a name, got {_got(value)}")
    if isinstance(value, int) and abs(value) >= 10**limits.NAME_LENGTH:
        # str() itself refuses ints of more than 4300 digits.
        raise ValueError(f"name {_got(value)} is more than {limits.NAME_LENGTH} digits long")
    text = str(value)
    # fullmatch: a `$` would let a trailing newline through ("pat\n").
    if not NAME_PATTERN.fullmatch(text):
        raise ValueError(
            f"bad name {_shown(text)}: use letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    if len(text) > limits.NAME_LENGTH:
        raise ValueError(
            f"name {_shown(text)} is {len(text)} characters long: use at most {limits.NAME_LENGTH}"
        )
    return text


def _refuse_controls(text: str) -> None:
    """Refuse what no database column or terminal should get: NUL and other
    control characters (tab and newline are fine), and lone surrogates,
    which are not encodable at all."""
    for index, char in enumerate(text):
        if char in "\t\n":
            continue
        category = unicodedata.category(char)
        if category in {"Cc", "Cs"}:
            raise ValueError(
                f"control character {char!r} at character {index + 1} of {_shown(text)}: "
                "remove it (tabs and newlines are allowed)"
            )


def _text_of(value: object, length: int) -> str:
    # Versions like 2.0 or 3 arrive as numbers when written unquoted.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected text, got {_got(value)}")
    # str() refuses ints of more than 4300 digits; none is a real version.
    if isinstance(value, int) and abs(value) >= 10**length:
        raise ValueError(f"the number is more than {length} digits long: use at most {length}")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    _refuse_controls(text)
    if len(text) > length:
        raise ValueError(
            f"the text is {len(text)} characters long: use at most {length} "
            f"(it starts {_shown(text)})"
        )
    return text


def _text(length: int) -> BeforeValidator:
    """Non-empty text that fits a database column of `length` characters."""
    return BeforeValidator(lambda value: _text_of(value, length))


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
    text = _text_of(value, limits.SSH_KEY_LENGTH)
    if "\n" in text:
        raise ValueError("the key spans several lines: put one key per entry")
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
    # The whole key, not only its type: a key cut short after the type would
    # pass the checks above and then let nobody in.
    try:
        load_ssh_public_identity(f"{parts[0]} {parts[1]}".encode("ascii"))
    except (ValueError, TypeError):
        raise ValueError(
            f"the {parts[0]} key is damaged or incomplete: paste the whole line of the .pub file"
        ) from None
    return text


def _to_role(value: object) -> Role:
    try:
        return Role(str(value))
    except ValueError:
        roles = ", ".join(role.value for role in Role)
        raise ValueError(f"unknown role {value!r}: use one of {roles}") from None


def _to_zone(value: object) -> str:
    zone = value if isinstance(value, str) else ""
    try:
        if not 0 < len(zone) <= limits.TIMEZONE_LENGTH:
            raise ValueError
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {_shown(zone or repr(value))}: "
            "use an IANA name like UTC or Europe/Berlin"
        ) from None
    return zone


def _to_freeze_name(value: object) -> str:
    """A freeze's name is what people say (`Black Friday`): one line of text,
    never the word overrides use for the deploy window."""
    text = " ".join(_text_of(value, limits.NAME_LENGTH).split())
    if text.casefold() == gates.WINDOW:
        raise ValueError(
            f"{gates.WINDOW!r} names the deploy window in overrides: call the freeze something else"
        )
    return text


def _to_rrule(value: object) -> str:
    text = _text_of(value, limits.RRULE_LENGTH)
    problem = gates.check_rule(
        text, anchored=True
    )  # what needs no other field (see _check_freezes)
    if problem is not None:
        raise ValueError(problem)
    return text


Zone = Annotated[str, BeforeValidator(_to_zone)]
Duration = Annotated[timedelta, BeforeValidator(_to_duration)]
Instant = Annotated[datetime, BeforeValidator(_to_instant)]
Name = Annotated[str, BeforeValidator(_to_name)]
Text = Annotated[str, _text(limits.TEXT_LENGTH)]
ReleaseName = Annotated[str, _text(limits.RELEASE_LENGTH)]
Version = Annotated[str, _text(limits.VERSION_LENGTH)]
Command = Annotated[str, _text(limits.COMMAND_LENGTH)]
When = Annotated[str, _text(limits.WHEN_LENGTH)]
RoleField = Annotated[Role, BeforeValidator(_to_role)]
SshKey = Annotated[str, BeforeValidator(_to_ssh_key)]
FreezeName = Annotated[str, BeforeValidator(_to_freeze_name)]
RRule = Annotated[str, BeforeValidator(_to_rrule)]


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

    @field_validator("url", mode="before")
    @classmethod
    def _http_only(cls, url: object) -> str:
        return _to_health_url(url)


def _to_health_url(value: object, what: str = "health url", example: str = "/health") -> str:
    """An http(s) URL with a host, parsed the whole way through, so the poller
    never meets a URL it cannot request."""
    if not isinstance(value, str):
        raise ValueError(f"expected a {what} such as http://host:8080{example}, got {value!r}")
    return check_http_url(value, f"bad {what} {_shown(value, 60)}")


def check_http_url(value: str, bad: str) -> str:
    """`value` if it is an http(s) URL an HTTP client can request, else
    ValueError starting with `bad` (what to call it) and saying why."""
    if len(value) > limits.URL_LENGTH:
        raise ValueError(
            f"{bad}: it is {len(value)} characters long, use at most {limits.URL_LENGTH}"
        )
    if not value.isascii() or any(char.isspace() or not char.isprintable() for char in value):
        raise ValueError(
            f"{bad}: it holds spaces, control or non-ASCII characters; percent-encode them"
        )
    try:
        parts = urlsplit(value)
        port = parts.port  # parses it: ValueError when out of range or not a number
        host = parts.hostname
    except ValueError as exc:
        raise ValueError(f"{bad}: {exc}") from None
    if parts.scheme not in {"http", "https"} or not host:
        raise ValueError(f"{bad}: use http:// or https:// and a host")
    # urlsplit is lenient about what stands around the host (`http://][::1]`
    # gives a host): the address part must be a name, an IPv4 address or a
    # bracketed IPv6 address, then an optional port — nothing else.
    address = parts.netloc.rpartition("@")[2]
    if not _ADDRESS.fullmatch(address):
        raise ValueError(
            f"{bad}: the host must be a name, an IPv4 address or [an IPv6 address], "
            "then an optional :port"
        )
    # Four dot-separated numbers are an IPv4 address to HTTP clients (httpx
    # refuses `80127.0.0.1` rather than look it up as a name): they must be one.
    literal = host if _IPV4_SHAPED.fullmatch(host) else None
    if literal is None and address.startswith("["):
        literal = host
    if literal is not None:
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            raise ValueError(f"{bad}: {literal} is not an IP address") from None
    del port
    return value


_IPV4_SHAPED = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_ADDRESS = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?"
)


def _to_env_name(value: object) -> str:
    if not isinstance(value, str) or not mx.ENV_NAME.fullmatch(value) or len(value) > 100:
        raise ValueError(
            f"expected the name of an environment variable (letters, digits and _, "
            f"like PROM_TOKEN), got {_got(value)}: the plan names the variable that "
            "holds the secret, never the secret itself"
        )
    return value


def _to_label_name(value: object) -> str:
    if (
        not isinstance(value, str)
        or not mx.LABEL_NAME.fullmatch(value)
        or value.startswith("__")
        or len(value) > 100
    ):
        raise ValueError(
            f"bad label name {_got(value)}: a Prometheus label is letters, digits and '_', "
            "not starting with a digit or '__'"
        )
    return value


def _to_metric_name(value: object) -> str:
    if not isinstance(value, str) or not mx.METRIC_NAME.fullmatch(value) or len(value) > 100:
        raise ValueError(
            f"bad metric name {_got(value)}: use the name rules say, like error_rate or p99_ms"
        )
    if value in mx.RESERVED_METRICS:
        raise ValueError(
            f"{value} is the health probe's own round trip: give the Prometheus metric another name"
        )
    return value


def _to_query(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a PromQL query as text, got {_got(value)}")
    text = value.strip()
    if not text:
        raise ValueError("the query is empty")
    _refuse_controls(text)
    if len(text) > mx.MAX_QUERY:
        raise ValueError(f"the query is {len(text)} characters long: use at most {mx.MAX_QUERY}")
    return text


def _to_prometheus_url(value: object) -> str:
    url = _to_health_url(value, "prometheus url", "")
    if urlsplit(url).query or urlsplit(url).fragment:
        raise ValueError(
            f"bad prometheus url {_shown(url, 60)}: give the server's base address, "
            "without ?query or #fragment (warroom adds /api/v1/query)"
        )
    return url


EnvName = Annotated[str, BeforeValidator(_to_env_name)]
LabelName = Annotated[str, BeforeValidator(_to_label_name)]
MetricName = Annotated[str, BeforeValidator(_to_metric_name)]
Query = Annotated[str, BeforeValidator(_to_query)]


class BasicAuthSpec(_Spec):
    username_env: EnvName
    password_env: EnvName


class PrometheusSpec(_Spec):
    url: Annotated[str, BeforeValidator(_to_prometheus_url)]
    bearer_token_env: EnvName | None = None
    basic_auth: BasicAuthSpec | None = None
    timeout: Duration | None = None


class MetricsSpec(_Spec):
    """`metrics:` in a plan: where rule metrics come from besides the health JSON."""

    prometheus: PrometheusSpec
    service_label: LabelName = mx.DEFAULT_SERVICE_LABEL
    queries: dict[MetricName, Query] = Field(default_factory=dict)


class RollbackSpec(_Spec):
    command: Command | None = None
    expected_duration: Duration | None = None


class Person(_Spec):
    name: Name
    role: RoleField
    team: Name | None = None
    ssh_keys: tuple[SshKey, ...] = ()


class Service(_Spec):
    name: Name
    team: Name
    version: Version
    previous_version: Version | None = None
    depends_on: tuple[Name, ...] = ()
    expected_duration: Duration = timedelta(minutes=10)
    owner: Name | None = None
    health: HealthCheck | None = None
    rollback: RollbackSpec | None = None
    steps: tuple[Text, ...] | None = None
    # This service's PromQL queries, over the release's (metrics.queries).
    metrics: dict[MetricName, Query] | None = None


WATCHED_BY_DEFAULT = ("deploying", "verifying", "done")


def _to_state(value: object) -> str:
    names = [state.value for state in DeployState]
    if str(value) not in names:
        raise ValueError(f"unknown deploy state {value!r}: use one of {', '.join(names)}")
    return str(value)


StateName = Annotated[str, BeforeValidator(_to_state)]


def _to_no_data(value: object) -> NoData:
    choices = ", ".join(kind.value for kind in NoData)
    if isinstance(value, str) and value in set(NoData):
        return NoData(value)
    raise ValueError(f"unknown no_data {_got(value)}: use one of {choices}")


def _count(low: int) -> BeforeValidator:
    """A whole number of samples from `low` to MAX_CHECKS, written as a number."""

    high = limits.MAX_CHECKS

    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}, got {_got(value)}")
        return value

    return BeforeValidator(check)


def _to_flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_got(value)}")
    return value


NoDataField = Annotated[NoData, BeforeValidator(_to_no_data)]
Flag = Annotated[bool, BeforeValidator(_to_flag)]


class Trigger(_Spec):
    name: Name
    when: When
    services: tuple[Name, ...] | None = None
    # Deploy states in which the rule watches a service: by default once it
    # is being deployed, not while it still runs the old version.
    states: tuple[StateName, ...] = WATCHED_BY_DEFAULT
    description: Text | None = None
    # How the rule is evaluated beyond its condition (domain/rules.py, RuleOptions).
    keep_firing_for: Duration | None = None
    no_data: NoDataField = NoData.IGNORE
    inconclusive_after: Annotated[int, _count(1)] | None = None
    dry_run: Flag = False
    error_limit: Annotated[int, _count(0)] | None = None

    @property
    def rule(self) -> Rule:
        return parse_rule(self.when)

    @property
    def options(self) -> RuleOptions:
        return RuleOptions(
            keep_firing_for=self.keep_firing_for,
            no_data=self.no_data,
            inconclusive_after=self.inconclusive_after or DEFAULT_INCONCLUSIVE_AFTER,
            dry_run=self.dry_run,
            error_limit=self.error_limit,
        )


class FreezeSpec(_Spec):
    """A freeze: one-off (`start`, `end`) or recurring (`rrule`, `duration`,
    and optionally the `start` the rule counts from). See domain/gates.py."""

    name: FreezeName
    reason: Text | None = None
    start: Instant | None = None
    end: Instant | None = None
    rrule: RRule | None = None
    duration: Duration | None = None

    def freeze(self) -> gates.Freeze:
        return gates.Freeze(self.name, self.reason, self.start, self.end, self.rrule, self.duration)


def _to_event(value: object) -> str:
    words = nt.event_words()
    if not isinstance(value, str) or value not in words:
        raise ValueError(f"unknown event {_got(value)}: use one of {', '.join(words)}")
    return value


EventName = Annotated[str, BeforeValidator(_to_event)]

# A destination names exactly one of these: how it is spoken to.
NOTIFY_KINDS: Mapping[str, nt.Kind] = {
    "slack_url_env": nt.Kind.SLACK,
    "webhook_url_env": nt.Kind.WEBHOOK,
    "pagerduty_key_env": nt.Kind.PAGERDUTY,
}


class NotifySpec(_Spec):
    """A destination outside the room (domain/notify.py): where, and which events."""

    name: Name
    slack_url_env: EnvName | None = None
    webhook_url_env: EnvName | None = None
    pagerduty_key_env: EnvName | None = None
    pagerduty_url_env: EnvName | None = None  # an Events API v2 endpoint other than PagerDuty's
    events: tuple[EventName, ...]

    def destination(self) -> nt.Destination:
        kind = next(k for key, k in NOTIFY_KINDS.items() if getattr(self, key))
        url_env = {
            nt.Kind.SLACK: self.slack_url_env,
            nt.Kind.WEBHOOK: self.webhook_url_env,
            nt.Kind.PAGERDUTY: self.pagerduty_url_env,
        }[kind]
        return nt.Destination(
            self.name, kind, url_env, self.pagerduty_key_env, nt.expand(self.events)
        )


class SshDoor(_Spec):
    """Where people join the room over SSH (`warroom serve-ssh`), for notifications to say."""

    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 2222

    @field_validator("host", mode="before")
    @classmethod
    def _a_host(cls, host: object) -> str:
        if (
            not isinstance(host, str)
            or len(host) > 253
            or not _ADDRESS.fullmatch(host)
            or ":" in host
        ):
            raise ValueError(
                f"expected a host name or address people can reach, like warroom.example.com, got {_got(host)}"
            )
        return host

    @property
    def join(self) -> str | None:
        return nt.join_command(self.host, self.port)


class Header(_Spec):
    release: ReleaseName
    manager: Name
    timezone: Zone = "UTC"
    window: Window
    rollback_until: Instant
    go_no_go_at: Instant
    default_steps: tuple[Text, ...] = ("Deploy", "Run smoke tests", "Verify")
    go_no_go: tuple[Text, ...] = ()
    readiness: dict[Name, tuple[Text, ...]] = Field(default_factory=dict)
    ssh_door: SshDoor | None = None
    metrics: MetricsSpec | None = None


class Plan(_Spec):
    """A validated release plan. Construct it with `parse_plan_text`/`validate_plan`."""

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
    freezes: tuple[FreezeSpec, ...] = ()
    notify: tuple[NotifySpec, ...] = ()
    ssh_door: SshDoor | None = None
    metrics: MetricsSpec | None = None

    def metrics_source(self) -> mx.MetricsSource | None:
        """The release's Prometheus and queries, or None when every metric
        comes from the health JSON."""
        spec = self.metrics
        if spec is None:
            return None
        prom = spec.prometheus
        basic = prom.basic_auth
        auth = mx.Auth(
            bearer_token_env=prom.bearer_token_env,
            username_env=basic.username_env if basic else None,
            password_env=basic.password_env if basic else None,
        )
        return mx.MetricsSource(
            url=prom.url,
            auth=auth,
            timeout=prom.timeout,
            service_label=spec.service_label,
            queries=dict(spec.queries),
            overrides={s.name: dict(s.metrics) for s in self.services if s.metrics},
        )

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
        elif not NAME_PATTERN.fullmatch(part) or len(part) > limits.NAME_LENGTH:
            # A key the plan made up: quoted and cut short, so that what is
            # printed is inert and one line.
            out += f"[{_shown(part)}]"
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
            # A bad mapping key is located at the key itself, without pydantic's "[key]".
            loc: Path = prefix + tuple(part for part in item["loc"] if part != "[key]")
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


def _service_list(out: _Collector, path: Path, names: Sequence[str], known: Set[str]) -> None:
    """A list of service names at `path` (a service's depends_on, a trigger's
    services): each one a service of the plan, and listed once."""
    for index, name in enumerate(names):
        if name not in known:
            out.add((*path, index), f"unknown service {name!r}")
        elif name in names[:index]:
            out.add(
                (*path, index),
                f"{name!r} is listed twice (also {path[-1]}[{names.index(name)}]): list it once",
            )


# ---------------------------------------------------------------- validation

# Go/no-go checklist items get the ids gng-1, gng-2, ...
GO_NO_GO_KEY = "gng"

_LIST_SECTIONS: dict[str, type[BaseModel]] = {
    "people": Person,
    "services": Service,
    "triggers": Trigger,
    "freezes": FreezeSpec,
    "notify": NotifySpec,
}


_NOT_A_MAPPING = "a plan is a YAML mapping with release, manager, window, people and services"


def _inert(text: str) -> str:
    """PyYAML's own words, with any control character it quotes shown escaped."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def validate_plan(
    data: object, lines: Mapping[Path, int] | None = None, env: Mapping[str, str] | None = None
) -> Plan:
    """Validate raw plan data (as parsed from YAML) into a Plan, or raise
    PlanInvalid listing every error found.

    `env` is the environment the plan's secrets are read from (`warroom
    check` and `warroom load` pass the process's): each variable `notify:`
    and `metrics.prometheus` name must be set there, and a URL in it must be
    one. None skips that look-up (a plan read for something else: the
    simulator, the demo).
    """
    out = _Collector(lines=lines or {})
    if not isinstance(data, dict):
        out.add((), _NOT_A_MAPPING)
        raise PlanInvalid(out.issues)

    header = _fields(out, {k: v for k, v in data.items() if k not in _LIST_SECTIONS}, Header, ())
    sections = {
        name: _entries(out, data.get(name), name, model) for name, model in _LIST_SECTIONS.items()
    }
    for name in ("people", "services"):
        if name not in data:
            out.add((name,), "required field is missing")

    _check_references(out, header, sections["people"], sections["services"], sections["triggers"])
    _check_freezes(out, header, sections["freezes"])
    _check_notify(out, sections["notify"], env)
    _check_metrics(out, header, sections["services"], env)

    if out.issues:
        raise PlanInvalid(out.issues)
    head = Header.model_validate(header)
    return Plan(
        **head.model_dump(exclude={"window", "metrics"}),
        window=head.window,
        metrics=head.metrics,
        people=tuple(Person.model_validate(e.values) for e in sections["people"]),
        services=tuple(Service.model_validate(e.values) for e in sections["services"]),
        triggers=tuple(Trigger.model_validate(e.values) for e in sections["triggers"]),
        freezes=tuple(FreezeSpec.model_validate(e.values) for e in sections["freezes"]),
        notify=tuple(NotifySpec.model_validate(e.values) for e in sections["notify"]),
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
        if str(entry.get("name", "")).lower() == SYSTEM_NAME:
            out.add(
                ("people", entry.index, "name"),
                f"{SYSTEM_NAME!r} is the name warroom itself acts under: give this person another",
            )
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
        elif team == GO_NO_GO_KEY:
            # Checklist ids are TEAM-N, and the go/no-go list's are gng-N.
            out.add(
                ("readiness", team),
                f"team {team!r} would give readiness items the ids of the go/no-go checklist "
                f"({GO_NO_GO_KEY}-1, ...): rename the team",
            )

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
        deps = entry.get("depends_on", ())
        _service_list(out, ("services", entry.index, "depends_on"), deps, service_names)
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
    cycles = g.find_cycles(graph)
    for cycle in cycles:
        chain = " -> ".join([*cycle, cycle[0]])
        out.add(("services", index_of[cycle[0]], "depends_on"), f"dependency cycle: {chain}")
    if not cycles and window is not None:
        _check_schedule(out, graph, window.start, named)

    for entry in triggers:
        when = entry.get("when")
        rule: Rule | None = None
        if when is not None:
            try:
                rule = parse_rule(when)
            except RuleSyntaxError as exc:
                out.add(("triggers", entry.index, "when"), f"{exc} in {when!r}")
        _check_options(out, entry, rule)
        scope = entry.get("services") or ()
        _service_list(out, ("triggers", entry.index, "services"), scope, service_names)


def _check_freezes(out: _Collector, header: Mapping[str, Any], freezes: list[_Entry]) -> None:
    """What a freeze's fields say together: one-off or recurring, and a name used once."""
    first_seen: dict[str, int] = {}
    for entry in freezes:
        name = entry.get("name")
        if name is not None:
            key = name.casefold()
            if key in first_seen:
                out.add(
                    ("freezes", entry.index, "name"),
                    f"duplicate freeze name {name!r} (also freezes[{first_seen[key]}]): "
                    "overrides name a freeze, so each name is used once",
                )
            else:
                first_seen[key] = entry.index
    window = header.get("window")
    for entry in freezes:
        path: Path = ("freezes", entry.index)
        raw = entry.raw
        start, end = entry.get("start"), entry.get("end")
        if "rrule" in raw:
            if "end" in raw:
                out.add(
                    (*path, "end"),
                    "a recurring freeze lasts a `duration` from each occurrence, not until an `end`",
                )
            if "duration" not in raw:
                out.add((*path, "duration"), "a recurring freeze needs a duration, like 8h")
            rule = entry.get("rrule")
            if rule is not None:
                problem = gates.check_rule(rule, anchored="start" in raw)
                if problem is not None:
                    out.add((*path, "rrule"), f"{problem} in {_shown(rule)}")
            if (
                start is not None
                and window is not None
                and start < window.start - limits.MAX_SCHEDULE
            ):
                out.add(
                    (*path, "start"),
                    f"a recurring freeze counts from at most {limits.MAX_SCHEDULE.days} days "
                    "before the deploy window: give a later start",
                )
            continue
        if "duration" in raw:
            out.add(
                (*path, "duration"),
                "a duration goes with an rrule: a one-off freeze has a start and an end",
            )
        for key in ("start", "end"):
            if key not in raw:
                out.add(
                    (*path, key),
                    "required field is missing (a one-off freeze has a start and an end; "
                    "a recurring one an rrule and a duration)",
                )
        if start is not None and end is not None and end <= start:
            out.add((*path, "end"), "the freeze ends before it starts")


def _check_notify(out: _Collector, entries: list[_Entry], env: Mapping[str, str] | None) -> None:
    """A destination names one way to reach it, events it can carry, and
    environment variables that are set and hold what they should."""
    _duplicates(out, "notify", entries, "destination")
    for entry in entries:
        path: Path = ("notify", entry.index)
        kinds = [field for field in NOTIFY_KINDS if field in entry.raw]
        if len(kinds) != 1:
            where = (*path, kinds[1]) if kinds else path
            out.add(
                where,
                "a destination names exactly one of slack_url_env, webhook_url_env or "
                "pagerduty_key_env" + (f", not {' and '.join(kinds)}" if kinds else ""),
            )
            continue
        kind = NOTIFY_KINDS[kinds[0]]
        if "pagerduty_url_env" in entry.raw and kind is not nt.Kind.PAGERDUTY:
            out.add(
                (*path, "pagerduty_url_env"),
                "pagerduty_url_env goes with pagerduty_key_env (an Events API v2 endpoint)",
            )
        events = entry.get("events")
        if events is not None:
            if not events:
                out.add((*path, "events"), "list the events it wants, or [all]")
            if kind is nt.Kind.PAGERDUTY:
                for index, word in enumerate(events):
                    if word != "all" and not nt.expand([word]) <= nt.PAGERDUTY_EVENTS:
                        out.add(
                            (*path, "events", index),
                            f"PagerDuty pages for fired triggers and resolves them: use "
                            f"trigger_fired, trigger_resolved or all, not {word!r}",
                        )
        if env is None:
            continue
        urls = {"slack_url_env", "webhook_url_env", "pagerduty_url_env"}
        for key in (*kinds, "pagerduty_url_env"):
            name = entry.get(key)
            if name is None:
                continue
            value = env.get(name)
            if not value:
                out.add(
                    (*path, key),
                    f"the environment variable {name} is not set (or empty): set it where "
                    "warroom check, load and poll run, or fix the name",
                )
            elif key in urls:
                try:
                    # The URL itself is a secret: say what is wrong, never what it is.
                    check_http_url(value, f"${name} does not hold a usable URL")
                except ValueError as exc:
                    out.add((*path, key), str(exc))


def _check_metrics(
    out: _Collector,
    header: Mapping[str, Any],
    services: list[_Entry],
    environ: Mapping[str, str] | None,
) -> None:
    """The queries' shape (placeholders, the service label), the secrets'
    environment variables, and per-service queries only with a Prometheus."""
    spec: MetricsSpec | None = header.get("metrics")
    if spec is None:
        for entry in services:
            if "metrics" in entry.raw:
                out.add(
                    ("services", entry.index, "metrics"),
                    "a service's queries need the release's Prometheus: add "
                    "metrics: {prometheus: {url: ...}} at the top of the plan",
                )
        return
    label = spec.service_label
    for metric, query in spec.queries.items():
        problem = mx.query_problem(query, label)
        if problem is not None:
            out.add(("metrics", "queries", metric), problem)
    if len(spec.queries) > mx.MAX_QUERIES:
        out.add(("metrics", "queries"), f"at most {mx.MAX_QUERIES} queries")
    for entry in services:
        for metric, query in (entry.get("metrics") or {}).items():
            problem = mx.query_problem(query, label)
            if problem is not None:
                out.add(("services", entry.index, "metrics", metric), problem)
    prom = spec.prometheus
    if prom.bearer_token_env and prom.basic_auth:
        out.add(
            ("metrics", "prometheus", "basic_auth"),
            "give either bearer_token_env or basic_auth, not both",
        )
    if environ is None:
        return
    names: list[tuple[Path, str]] = []
    if prom.bearer_token_env:
        names.append((("metrics", "prometheus", "bearer_token_env"), prom.bearer_token_env))
    if prom.basic_auth:
        for key in ("username_env", "password_env"):
            where: Path = ("metrics", "prometheus", "basic_auth", key)
            names.append((where, getattr(prom.basic_auth, key)))
    for where, name in names:
        if not environ.get(name):
            out.add(
                where,
                f"the environment variable {name} is not set (or empty): export it where "
                "warroom check, load and poll run; the plan names it, the secret stays out",
            )


def _check_options(out: _Collector, entry: _Entry, rule: Rule | None) -> None:
    """A trigger's options that its other fields make meaningless."""
    where = ("triggers", entry.index)
    if entry.get("inconclusive_after") is not None and entry.get("no_data") is not (
        NoData.INCONCLUSIVE
    ):
        out.add(
            (*where, "inconclusive_after"),
            "inconclusive_after counts samples without data before asking the release "
            "manager: it needs no_data: inconclusive",
        )
    if isinstance(rule, HealthRule):
        if entry.get("no_data") is not None:
            out.add(
                (*where, "no_data"),
                f"no_data does not apply to {rule.describe()!r}: every probe is data for it",
            )
        if entry.get("error_limit") is not None:
            out.add(
                (*where, "error_limit"),
                f"error_limit does not apply to {rule.describe()!r}: "
                "a failing probe is what it watches",
            )


def _check_schedule(out: _Collector, graph: Any, start: datetime, named: list[_Entry]) -> None:
    """The planned schedule (services back to back along their dependencies)
    must end within MAX_SCHEDULE of the window's start."""
    durations = {
        e.get("name"): e.get("expected_duration", Service.model_fields["expected_duration"].default)
        for e in named
    }
    slots = g.schedule(graph, start, durations)
    latest = start + limits.MAX_SCHEDULE
    late = [e for e in named if slots[e.get("name")].end > latest]
    if late:
        first = min(late, key=lambda e: slots[e.get("name")].end)
        out.add(
            ("services", first.index, "expected_duration"),
            f"the planned schedule runs past {limits.MAX_SCHEDULE.days} days from the window's "
            f"start at {first.get('name')}: shorten the expected durations",
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

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # A value its constructor cannot read (`!!timestamp 2024-13-01`, an
        # int of 5000 digits) is a mistake in the plan, not a crash.
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, OverflowError, TypeError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {exc}", node.start_mark
            ) from None


_PlanLoader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:float"}
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _measure(root: yaml.Node) -> PlanIssue | None:
    """Refuse a document that is too big once its aliases are expanded (the
    "billion laughs"), nests too deeply, or holds itself through an alias.

    Aliases make the node graph a DAG (or worse, a cycle), so this counts
    with a memo per node and without recursion, before anything walks the
    expanded tree.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the path from the root to where the walk is
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        line = node.start_mark.line + 1
        if finished:
            open_nodes.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(kid)] for kid in kids)
            depth[key] = 1 + max((depth[id(kid)] for kid in kids), default=0)
            if size[key] > limits.MAX_PLAN_VALUES:
                return PlanIssue(
                    "",
                    f"the plan grows past {limits.MAX_PLAN_VALUES} values here (each use "
                    "of an alias counts its whole value): use fewer aliases or a smaller plan",
                    line,
                )
            if depth[key] > limits.MAX_PLAN_DEPTH:
                return PlanIssue(
                    "",
                    f"lists and mappings nest more than {limits.MAX_PLAN_DEPTH} deep here: "
                    "a plan needs a handful of levels",
                    line,
                )
            continue
        if key in size:
            continue
        if key in open_nodes:
            return PlanIssue(
                "", "an alias refers to a value that contains it: remove the alias", line
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in _children(node) if id(kid) not in size)
    return None


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


def parse_plan_text(
    text: str, source: str | None = None, env: Mapping[str, str] | None = None
) -> Plan:
    """Parse and validate plan YAML; PlanInvalid carries `source` for messages.
    `env`: see `validate_plan`."""
    out = _Collector()
    if len(text) > limits.MAX_PLAN_BYTES:
        raise PlanInvalid([PlanIssue("", too_big(len(text)))], source)
    try:
        loader = _PlanLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise PlanInvalid([PlanIssue("", _NOT_A_MAPPING, 1)], source)
            problem = _measure(node)
            if problem is not None:
                raise PlanInvalid([problem], source)
            # Map lines (and spot duplicate keys) before construction: building
            # the document folds `<<: *anchor` merges into the mapping nodes.
            lines = _line_map(node, out)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 1
        said = _inert(str(exc.problem))
        raise PlanInvalid([PlanIssue("", f"not valid YAML: {said}", line)], source) from None
    except yaml.YAMLError as exc:
        # A reader error (a character YAML does not allow) knows its position.
        position = getattr(exc, "position", 0)
        line = text[:position].count("\n") + 1
        what = _inert(str(getattr(exc, "reason", None) or exc))
        raise PlanInvalid([PlanIssue("", f"not valid YAML: {what}", line)], source) from None
    try:
        plan = validate_plan(data, lines, env)
    except PlanInvalid as exc:
        raise PlanInvalid(out.issues + exc.issues, source) from None
    if out.issues:
        raise PlanInvalid(out.issues, source)
    return plan


def too_big(size: int) -> str:
    """The refusal of a plan of `size` bytes (or characters) past MAX_PLAN_BYTES."""
    return (
        f"the plan is larger than {limits.MAX_PLAN_BYTES // 1024} KiB "
        f"({'at least ' if size > limits.MAX_PLAN_BYTES else ''}{size} bytes): "
        "is this the right file?"
    )
