"""Campaign briefs: the YAML a content-operations team writes, validated before anything runs.

Every error names the file, the field and the fix, and validation writes nothing.
"""

import hashlib
import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from route_assets.catalog import Policy, load_placements, load_policy
from route_assets.imaging.classify import Thresholds
from route_assets.partitions import AdSetKey, InvalidKeyError, check_part

HEX_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")
Tier = Literal["hero", "text", "volume", "draft"]
Motion = Literal["action", "realistic", "budget"]


class BriefError(ValueError):
    """A brief that cannot be used; the message lists every problem with its fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _id(value: str, what: str) -> str:
    try:
        return check_part(value, what=what)
    except InvalidKeyError as exc:
        raise ValueError(str(exc)) from None


class Brand(_Strict):
    name: str = Field(min_length=1, max_length=80)
    palette: tuple[str, ...] = Field(min_length=1, max_length=8)
    font: str | None = None

    @field_validator("palette")
    @classmethod
    def _hex(cls, palette: tuple[str, ...]) -> tuple[str, ...]:
        bad = [c for c in palette if not isinstance(c, str) or not HEX_COLOUR.fullmatch(c)]
        if bad:
            raise ValueError(
                f"colours {bad} are not '#RRGGBB' hex; write each as '#' plus six hex digits, "
                "for example '#1A2B3C' (quote it in YAML)"
            )
        return tuple(c.upper() for c in palette)


class Refresh(_Strict):
    nightly: bool = False
    timezone: str = "UTC"
    hour: int = Field(2, ge=0, le=23)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {zone!r}; use an IANA name such as 'Europe/Berlin'"
            ) from None
        return zone


class Market(_Strict):
    id: str
    locale: str = Field(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")
    headline: str = Field(min_length=1, max_length=90)

    @field_validator("id")
    @classmethod
    def _market_id(cls, value: str) -> str:
        return _id(value, "market id")


def _known_placements(ids: tuple[str, ...] | None) -> tuple[str, ...] | None:
    known = load_placements().ids
    bad = [p for p in ids or () if p not in known]
    if bad:
        raise ValueError(f"unknown placement(s) {bad}; use ids from: {', '.join(known)}")
    return ids


FIXES = {
    "budget_usd": "set a positive amount in US dollars, for example 250.0",
    "candidates": "use a whole number from 1 to 8",
    "locale": "use a locale such as 'en-US' or 'de-DE'",
    "headline": "write 1-90 characters",
    "missing": "add this field",
    "extra_forbidden": "remove it, or check its spelling against the README's brief format",
}


class Defaults(_Strict):
    tier: Tier = "volume"
    candidates: int | None = Field(None, ge=1, le=8)
    placements: tuple[str, ...] = ()
    motion: Motion | None = None

    _placements = field_validator("placements")(_known_placements)


class AdSet(_Strict):
    id: str
    market: str
    tier: Tier | None = None
    prompt: str = Field(min_length=3, max_length=2000)
    subject: str = Field(min_length=2, max_length=200)
    headline: str | None = Field(None, min_length=1, max_length=90)
    placements: tuple[str, ...] | None = None
    motion: Motion | None = None
    candidates: int | None = Field(None, ge=1, le=8)

    _placements = field_validator("placements")(_known_placements)

    @field_validator("id")
    @classmethod
    def _ad_set_id(cls, value: str) -> str:
        return _id(value, "ad-set id")


class Brief(_Strict):
    campaign: str
    brand: Brand
    budget_usd: float = Field(gt=0, le=1_000_000)
    refresh: Refresh = Refresh()
    markets: tuple[Market, ...] = Field(min_length=1)
    defaults: Defaults = Defaults()
    ad_sets: tuple[AdSet, ...] = Field(min_length=1)
    policy: dict[str, Any] = {}

    @field_validator("campaign")
    @classmethod
    def _campaign_id(cls, value: str) -> str:
        return _id(value, "campaign id")

    def partition_keys(self) -> list[AdSetKey]:
        return [AdSetKey(self.campaign, a.id) for a in self.ad_sets]

    def ad_set(self, ad_set_id: str) -> "ResolvedAdSet":
        for index, ad_set in enumerate(self.ad_sets):
            if ad_set.id == ad_set_id:
                return resolve(self, index)
        raise KeyError(f"ad set {ad_set_id!r} is not in campaign {self.campaign!r}")

    def effective_policy(self) -> Policy:
        return load_policy().merged(self.policy)

    def sha(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class ResolvedAdSet(_Strict):
    """An ad set with the brief's defaults and market applied: what the stages consume."""

    key: str
    tier: Tier
    prompt: str
    subject: str
    headline: str
    locale: str
    placements: tuple[str, ...]
    motion: Motion | None
    candidates: int
    palette: tuple[str, ...]
    brand: str
    sha: str  # content hash of this resolved ad set: a changed ad set gets a new sha


def resolve(brief: Brief, index: int) -> ResolvedAdSet:
    ad_set = brief.ad_sets[index]
    market = next(m for m in brief.markets if m.id == ad_set.market)
    body = {
        "key": str(AdSetKey(brief.campaign, ad_set.id)),
        "tier": ad_set.tier or brief.defaults.tier,
        "prompt": ad_set.prompt,
        "subject": ad_set.subject,
        "headline": ad_set.headline or market.headline,
        "locale": market.locale,
        "placements": ad_set.placements or brief.defaults.placements,
        "motion": ad_set.motion or brief.defaults.motion,
        "candidates": ad_set.candidates
        or brief.defaults.candidates
        or brief.effective_policy().candidates,
        "palette": brief.brand.palette,
        "brand": brief.brand.name,
    }
    sha = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return ResolvedAdSet(**body, sha=sha)


def _field_path(loc: tuple[int | str, ...], data: Any) -> str:
    path = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
        if isinstance(node, dict) and "id" in node and isinstance(part, int):
            path += f"(id={node['id']!r})"
    return path or "(top level)"


def _semantic_problems(brief: Brief) -> list[str]:
    problems: list[str] = []
    market_ids = [m.id for m in brief.markets]
    seen: set[str] = set()
    for i, ad_set in enumerate(brief.ad_sets):
        where = f"ad_sets[{i}](id={ad_set.id!r})"
        if ad_set.id in seen:
            problems.append(f"{where}.id: duplicate ad-set id; give every ad set its own id")
        seen.add(ad_set.id)
        if ad_set.market not in market_ids:
            problems.append(
                f"{where}.market: unknown market {ad_set.market!r}; "
                f"use one of the brief's markets: {', '.join(market_ids)}"
            )
        if not (ad_set.placements or brief.defaults.placements):
            problems.append(f"{where}.placements: no placements; list some here or under defaults")
    try:
        Thresholds.from_dict(dict(brief.effective_policy().thresholds))
    except ValidationError as exc:
        problems += [f"policy.{_field_path(e['loc'], {})}: {e['msg']}" for e in exc.errors()]
    except ValueError as exc:
        known = ", ".join(f.name for f in fields(Thresholds))
        problems.append(f"policy.thresholds: {exc}; known thresholds: {known}")
    return problems


def _message(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    fix = FIXES.get(error["type"]) or FIXES.get(str(error["loc"][-1]) if error["loc"] else "")
    return f"{message}; fix: {fix}" if fix and "; " not in message else message


def parse_brief(data: Any, *, source: str) -> Brief:
    """Validate brief data; raise BriefError naming `source`, each field and its fix."""
    if not isinstance(data, dict):
        raise BriefError(f"{source}: a brief must be a YAML mapping with campaign, brand, ad_sets…")
    try:
        brief = Brief.model_validate(data)
    except ValidationError as exc:
        lines = [f"{_field_path(e['loc'], data)}: {_message(e)}" for e in exc.errors()]
        raise BriefError(f"{source}: invalid brief\n  " + "\n  ".join(lines)) from None
    problems = _semantic_problems(brief)
    if problems:
        raise BriefError(f"{source}: invalid brief\n  " + "\n  ".join(problems))
    return brief


def load_brief(path: str | Path) -> Brief:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BriefError(f"{path}: cannot read brief ({exc.strerror}); check the path") from None
    return parse_brief_text(text, source=str(path))


def parse_brief_text(text: str, *, source: str) -> Brief:
    """A brief from YAML text (a file, or an object in an S3 prefix) named `source`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BriefError(f"{source}: not valid YAML: {exc}") from None
    return parse_brief(data, source=source)


BRIEF_FILE = "brief.json"


class BriefSnapshots(Protocol):
    def put_campaign_file(self, campaign: str, name: str, data: bytes) -> str: ...
    def get_campaign_file(self, campaign: str, name: str) -> bytes | None: ...


def save_brief(store: BriefSnapshots, brief: Brief) -> str:
    """Register the validated brief with the store, where every stage and run reads it."""
    return store.put_campaign_file(
        brief.campaign, BRIEF_FILE, brief.model_dump_json(indent=2).encode()
    )


def registered_brief(store: BriefSnapshots, campaign: str) -> Brief:
    data = store.get_campaign_file(campaign, BRIEF_FILE)
    if data is None:
        raise BriefError(
            f"campaign {campaign!r} has no registered brief in the store; "
            "register it with `route-assets run BRIEF` (or the brief sensor)"
        )
    return parse_brief(json.loads(data), source=f"registered brief of {campaign}")
