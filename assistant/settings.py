"""Configuration: a TOML file validated with pydantic, turned into the core's plain records.

Every value has a sane default, so ``followup replay`` works with no file at all. Unknown keys
are errors (a typo must not be silently ignored), and every error names the key and the file.
See ``config/followup.example.toml`` for the documented format.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .core.authenticity import Trust
from .core.clock import BusinessCalendar, CalendarError, holiday_set
from .core.durations import DurationError, parse_duration
from .core.errors import ConfigurationError
from .core.evaluate import MailboxPolicy
from .core.ladder import DEFAULT_STEPS, Kind, Ladder, Step
from .core.loops import LoopLimits
from .core.ownership import OwnershipRules, Person
from .core.team import PatternError, Team


class ConfigError(ConfigurationError):
    """A configuration that cannot be used; the message says where and why."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: str) -> str:
    try:
        parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None
    return value


class HoursConfig(_Model):
    """Business hours of the mailbox: zone, weekly hours, holidays."""

    timezone: str = "UTC"
    weekly: str = "Mon-Fri 09:00-17:30"
    holidays: str | None = Field(default=None, description="ISO country code, e.g. GB, US, DE")
    holiday_subdivision: str | None = None
    extra_holidays: list[date] = Field(default_factory=list)


class StepConfig(_Model):
    """One rung of the ladder."""

    name: str
    kind: Kind
    after: Annotated[str, Field(description="e.g. 2m, 4h, 1d (business time except acknowledge)")]

    _check_after = field_validator("after")(_duration)


class LadderConfig(_Model):
    """The escalation ladder; ``steps`` replaces the defaults when given."""

    grace: str | None = None
    acknowledge_since: datetime | None = None
    steps: list[StepConfig] | None = None

    _check_grace = field_validator("grace")(lambda v: v if v is None else _duration(v))


class PersonConfig(_Model):
    """A team member."""

    email: str
    name: str = ""
    backup: str | None = None
    away: bool = False
    lead: bool = False
    timezone: str = "UTC"
    working_days: str = "Mon-Fri"
    digest_at: str = "08:30"
    digest_paused: bool = False


class OwnershipConfig(_Model):
    """Ownership rules, tried in the documented order."""

    default: str | None = None
    rotation: list[str] = Field(default_factory=list)
    addresses: dict[str, str] = Field(default_factory=dict)
    domains: dict[str, str] = Field(default_factory=dict)
    keywords: dict[str, str] = Field(default_factory=dict)


class MailboxConfig(_Model):
    """The mailbox being replayed or watched."""

    name: str = "mailbox"
    address: str = ""
    team: list[str] = Field(default_factory=list)


class MessagesConfig(_Model):
    """How automatic mail reads: names, signature, language, templates."""

    team_name: str = "our team"
    signature: str = ""
    locale: str = "en_GB"
    templates_dir: Path | None = None


class GuardsConfig(_Model):
    """Limits that stop Followup from ever flooding anyone (see :mod:`assistant.core.loops`)."""

    per_sender_window: str = "1d"
    #: Mail to clients per minute per mailbox; more waits in the outbox (a throttle).
    max_per_minute: int = Field(default=30, ge=1)
    #: An answer to our mail this fast is a robot's (``loop-instant-reply``).
    instant_reply: str = "60s"
    per_recipient: int = Field(default=4, ge=2)
    per_domain: int = Field(default=3, ge=1)
    per_mailbox: int = Field(default=10, ge=1)
    loop_window: str = "1h"
    loop_pause: str = "1d"

    _check_window = field_validator(
        "per_sender_window", "instant_reply", "loop_window", "loop_pause"
    )(_duration)

    def limits(self) -> LoopLimits:
        """The loop rules' thresholds."""
        return LoopLimits(
            max_per_minute=self.max_per_minute,
            instant_reply=parse_duration(self.instant_reply).real(),
            per_recipient=self.per_recipient,
            per_domain=self.per_domain,
            per_mailbox=self.per_mailbox,
            window=parse_duration(self.loop_window).real(),
            pause=parse_duration(self.loop_pause).real(),
        )


class WebConfig(_Model):
    """Where the web app is reached: links in reminders and digests point there."""

    base_url: str = "http://127.0.0.1:8086"
    #: Reverse proxies whose X-Forwarded-For names the client (login limits count per
    #: client address); nobody else's is believed. Empty: the socket's peer is the client.
    trusted_proxies: list[str] = Field(default_factory=list)


class DigestsConfig(_Model):
    """Daily digests."""

    send_when_empty: bool = False
    mailbox: str | None = Field(
        default=None, description="the mailbox whose SMTP sends digests (default: the first)"
    )


class ScaleConfig(_Model):
    """The scale-out mode (arq workers and watchers on Redis, PostgreSQL for state)."""

    redis_url: str | None = Field(default=None, description="or FOLLOWUP_REDIS_URL")
    poll_seconds: float = Field(default=60.0, gt=0, description="safety-net sync period")
    lease_seconds: float = Field(
        default=10.0, gt=1, description="a dead watcher's mailboxes move after this"
    )
    job_timeout: float = Field(default=300.0, gt=0)


class AuthenticationConfig(_Model):
    """Which receiving servers' ``Authentication-Results`` to believe (their authserv-ids,
    e.g. ``mx.google.com``, ``*.prod.outlook.com`` as written in the header). Empty: nothing
    is checked (From is taken as written). Set: a client message failing DMARC gets no
    acknowledgement, and mail claiming a team From counts (as a team reply or a reply
    command) only with SPF or DKIM passing for an aligned domain."""

    servers: list[str] = Field(default_factory=list)

    def trust(self) -> Trust:
        """The core's view."""
        return Trust(frozenset(s.strip().lower() for s in self.servers if s.strip()))


class OAuthClientConfig(_Model):
    """An OAuth2 client registered with a provider (``[oauth.google]``, ``[oauth.microsoft]``,
    or ``[oauth.NAME]`` for any other provider, found by ``issuer`` or explicit endpoints)."""

    client_id: str
    preset: Literal["google", "microsoft"] | None = Field(
        default=None, description="base a differently named section on a built-in provider"
    )
    client_secret: str | None = Field(
        default=None, description="or FOLLOWUP_OAUTH_<NAME>_CLIENT_SECRET (kept out of files)"
    )
    tenant: str | None = Field(default=None, description="Microsoft: tenant id or domain")
    issuer: str | None = Field(default=None, description="OIDC discovery from this issuer URL")
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    device_endpoint: str | None = None
    revocation_endpoint: str | None = None
    scope: str | None = None
    app_scope: str | None = None
    sasl: Literal["xoauth2", "oauthbearer"] | None = None
    imap: str | None = Field(default=None, description="server URL, e.g. imaps://host:993")
    smtp: str | None = Field(default=None, description="server URL, e.g. smtps://host:465")

    def secret(self, name: str) -> str | None:
        """The client secret: from the file, else from the environment (put in at start by
        :func:`with_client_secrets`)."""
        return self.client_secret or None


class DiscoveryConfig(_Model):
    """Connect by address: where the look-ups go (defaults: the system's resolver, autoconfig
    over HTTPS then HTTP on the usual ports). For private networks and tests."""

    nameserver: str | None = Field(default=None, description='e.g. "127.0.0.1:5353"')
    autoconfig_port: int | None = Field(default=None, gt=0, lt=65536)
    http_schemes: tuple[Literal["https", "http"], ...] = ("https", "http")
    cafile: str | None = None
    timeout: float = Field(default=5.0, gt=0, description="seconds per look-up")
    budget: float = Field(default=15.0, gt=0, description="seconds for the whole search")


class ImapConfig(_Model):
    """IMAP connections per mailbox (providers cap them per account: Gmail about 15,
    Exchange Online 16, shared with the team's own mail clients)."""

    max_connections: int = Field(
        default=4, ge=2, description="sync + one delivery or command + IDLE for the rest"
    )


class FollowupConfig(_Model):
    """The whole file."""

    scale: ScaleConfig = Field(default_factory=ScaleConfig)

    web: WebConfig = Field(default_factory=WebConfig)
    digests: DigestsConfig = Field(default_factory=DigestsConfig)

    mailbox: MailboxConfig = Field(default_factory=MailboxConfig)
    messages: MessagesConfig = Field(default_factory=MessagesConfig)
    guards: GuardsConfig = Field(default_factory=GuardsConfig)
    authentication: AuthenticationConfig = Field(default_factory=AuthenticationConfig)
    hours: HoursConfig = Field(default_factory=HoursConfig)
    ladder: LadderConfig = Field(default_factory=LadderConfig)
    ownership: OwnershipConfig = Field(default_factory=OwnershipConfig)
    people: list[PersonConfig] = Field(default_factory=list)
    oauth: dict[str, OAuthClientConfig] = Field(default_factory=dict)
    discovery: DiscoveryConfig = Field(default_factory=DiscoveryConfig)
    imap: ImapConfig = Field(default_factory=ImapConfig)


def _format_error(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def load_config(path: Path | None) -> FollowupConfig:
    """Read and validate a TOML file; ``None`` gives the defaults."""
    if path is None:
        return FollowupConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return FollowupConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc)) from None


def secret_variable(name: str) -> str:
    """The environment variable that holds OAuth client ``name``'s secret."""
    return f"FOLLOWUP_OAUTH_{name.upper().replace('-', '_')}_CLIENT_SECRET"


def with_client_secrets(cfg: FollowupConfig, environ: Mapping[str, str]) -> FollowupConfig:
    """``cfg`` with each OAuth client's secret taken from ``environ`` (variables named by
    :func:`secret_variable`) where the file gives none: secrets can stay out of files."""
    filled = {
        name: client
        if client.client_secret or not environ.get(secret_variable(name))
        else client.model_copy(update={"client_secret": environ[secret_variable(name)]})
        for name, client in cfg.oauth.items()
    }
    return cfg.model_copy(update={"oauth": filled})


def _steps(cfg: LadderConfig) -> tuple[Step, ...]:
    if cfg.steps is not None:
        steps = tuple(Step(s.name, s.kind, parse_duration(s.after)) for s in cfg.steps)
    else:
        steps = DEFAULT_STEPS
    if cfg.grace is not None:
        grace = parse_duration(cfg.grace)
        steps = tuple(
            Step(s.name, s.kind, grace) if s.kind is Kind.ACKNOWLEDGE else s for s in steps
        )
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise ConfigError(f"ladder step names must be unique, got {names}")
    return steps


def people_of(cfg: FollowupConfig) -> dict[str, Person]:
    """The file's ``[[people]]`` as the core's records, by lower-case address."""
    return {
        p.email.lower(): Person(
            p.email.lower(),
            p.name,
            p.backup.lower() if p.backup else None,
            p.away,
            p.lead,
            p.timezone,
            p.working_days,
            p.digest_at,
            p.digest_paused,
        )
        for p in cfg.people
    }


def build_policy(cfg: FollowupConfig, extra_team: list[str] | None = None) -> MailboxPolicy:
    """Turn a validated configuration into the core's :class:`MailboxPolicy`."""
    patterns = [*cfg.mailbox.team, *(extra_team or [])]
    try:
        own = (cfg.mailbox.address,) if cfg.mailbox.address else ()
        team = Team.from_patterns(patterns, *own)
        hours = cfg.hours
        holidays = holiday_set(
            hours.holidays, hours.holiday_subdivision, tuple(hours.extra_holidays)
        )
        calendar = BusinessCalendar.build(hours.timezone, hours.weekly, holidays)
    except (PatternError, CalendarError) as exc:
        raise ConfigError(str(exc)) from None
    people = people_of(cfg)
    own_cfg = cfg.ownership
    ownership = OwnershipRules(
        by_address={k.lower(): v.lower() for k, v in own_cfg.addresses.items()},
        by_domain={k.lower().lstrip("@"): v.lower() for k, v in own_cfg.domains.items()},
        by_keyword=tuple((k, v.lower()) for k, v in own_cfg.keywords.items()),
        default=own_cfg.default.lower() if own_cfg.default else None,
        rotation=tuple(p.lower() for p in own_cfg.rotation),
    )
    ladder = Ladder(_steps(cfg.ladder), cfg.ladder.acknowledge_since, cfg.authentication.trust())
    return MailboxPolicy(
        name=cfg.mailbox.name,
        address=cfg.mailbox.address,
        team=team,
        calendar=calendar,
        ladder=ladder,
        ownership=ownership,
        people=people,
    )
