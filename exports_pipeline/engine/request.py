"""The export request and its rules (SPEC 2.1), shared by the API and the pipeline.

`parse_export_request` turns untrusted JSON-like input into an `ExportRequest` or raises
`InvalidExportRequest` carrying one `FieldError` per broken rule, each naming the field
and the rule. `check_export_date` adds the rules that need the space's timezone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from exports_pipeline.engine.vocabulary import (
    AD_HIERARCHY_FIELDS,
    ATTRIBUTION_MODELS,
    ATTRIBUTION_ONLY_FIELDS,
    ATTRIBUTION_WINDOWS,
    EVENT_NAMES,
    EXPORT_FIELDS,
    HALF_LIFE_DAYS,
    MODEL_PARAMETERS,
    PAID_ONLY_MODELS,
    SOURCE_SET,
    is_paid,
)

_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NULL_MESSAGE = "must not be null (omit an optional field instead)"


@dataclass(frozen=True)
class FieldError:
    """One broken rule: the field it concerns and a sentence naming the rule."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidExportRequest(ValueError):
    """The request breaks one or more rules; `errors` lists every one of them."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def _list_rule(
    values: list[str], *, allowed: frozenset[str] | tuple[str, ...], most: int, what: str
) -> list[str]:
    if len(values) < 1:
        raise ValueError("must contain at least 1 item")
    if len(values) > most:
        raise ValueError(f"must contain at most {most} items, got {len(values)}")
    seen: set[str] = set()
    for value in values:
        if value not in allowed:
            raise ValueError(f"unknown {what} {value!r}")
        if value in seen:
            raise ValueError(f"duplicate value {value!r}")
        seen.add(value)
    return values


class ExportRequest(BaseModel):
    """A validated export request. Optional fields are absent (None), never null."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    date: dt.date
    query_mode: Literal["profile", "company"] = "profile"
    event_names: list[str] | None = Field(default=None)
    sources: list[str] | None = Field(default=None)
    attribution_model: str | None = Field(default=None)
    attribution_window: int | None = Field(default=None)
    fields: list[str] | None = Field(default=None)
    attribution_half_life_days: int | None = Field(default=None)
    position_weights: list[int] | None = Field(default=None)

    @field_validator("event_names")
    @classmethod
    def _event_names(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        return _list_rule(v, allowed=EVENT_NAMES, most=10, what="event name")

    @field_validator("sources")
    @classmethod
    def _sources(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        return _list_rule(v, allowed=SOURCE_SET, most=15, what="source")

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        return _list_rule(v, allowed=EXPORT_FIELDS, most=20, what="field")

    @field_validator("attribution_model")
    @classmethod
    def _model(cls, v: str | None) -> str | None:
        if v is not None and v not in ATTRIBUTION_MODELS:
            raise ValueError(f"must be one of {', '.join(ATTRIBUTION_MODELS)}")
        return v

    @field_validator("attribution_window")
    @classmethod
    def _window(cls, v: int | None) -> int | None:
        if v is not None and v not in ATTRIBUTION_WINDOWS:
            raise ValueError(f"must be one of {', '.join(map(str, ATTRIBUTION_WINDOWS))}")
        return v

    @field_validator("attribution_half_life_days")
    @classmethod
    def _half_life(cls, v: int | None) -> int | None:
        if v is not None and v not in HALF_LIFE_DAYS:
            raise ValueError(f"must be from {HALF_LIFE_DAYS[0]} to {HALF_LIFE_DAYS[-1]} (days)")
        return v

    @field_validator("position_weights")
    @classmethod
    def _position_weights(cls, v: list[int] | None) -> list[int] | None:
        if v is None:
            return v
        if len(v) != 2:
            raise ValueError(f"must be 2 integers [first, last], got {len(v)} items")
        if any(not 0 <= w <= 100 for w in v):
            raise ValueError("each weight must be from 0 to 100 (percent)")
        if sum(v) > 100:
            raise ValueError(f"first + last must be at most 100, got {sum(v)}")
        return v

    @property
    def attributed(self) -> bool:
        """True when the export attributes events to touchpoints of `sources`."""
        return self.sources is not None

    @property
    def wants_ad_hierarchy(self) -> bool:
        return any(f in AD_HIERARCHY_FIELDS for f in self.fields or ())

    def to_params(self) -> dict[str, Any]:
        """JSON-ready parameters, without the date and without absent fields."""
        return self.model_dump(mode="json", exclude_none=True, exclude={"date"})


def _pydantic_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        field = loc[0] if loc else ""
        if err["type"] == "extra_forbidden":
            errors.append(FieldError(field, "unknown field (not part of the request)"))
            continue
        if err["type"] == "missing":
            errors.append(FieldError(field, "field required"))
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if len(loc) > 1:
            msg = f"item {loc[1]}: {msg}"
        errors.append(FieldError(field, msg))
    return errors


def _check_date_shape(value: Any) -> FieldError | None:
    if value is None:
        return FieldError("date", "must not be null")
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        return FieldError("date", "must be a string in YYYY-MM-DD format")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return FieldError("date", f"{value!r} is not a real calendar date")
    return None


def _cross_field_errors(data: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    sources = data.get("sources")
    if "sources" not in data:
        for key in ("attribution_model", "attribution_window"):
            if key in data:
                errors.append(FieldError(key, "requires sources"))
        for field in data.get("fields") or ():
            if isinstance(field, str) and field in ATTRIBUTION_ONLY_FIELDS:
                errors.append(FieldError("fields", f"{field} requires sources"))
    else:
        for key in ("attribution_model", "attribution_window"):
            if key not in data:
                errors.append(FieldError(key, "required when sources is given"))
        model = data.get("attribution_model")
        if (
            model in PAID_ONLY_MODELS
            and isinstance(sources, list)
            and not any(isinstance(s, str) and is_paid(s) for s in sources)
        ):
            errors.append(
                FieldError(
                    "attribution_model",
                    f"{model} requires at least one paid (*_ads) source in sources",
                )
            )
    model = data.get("attribution_model")
    for key, owner in MODEL_PARAMETERS.items():
        if key in data and model != owner:
            errors.append(FieldError(key, f"allowed only with attribution_model {owner}"))
    if model == "position_based" and "position_weights" not in data:
        errors.append(
            FieldError("position_weights", "required with attribution_model position_based")
        )
    return errors


def parse_export_request(data: object) -> ExportRequest:
    """Validate untrusted input (already JSON-decoded) into an `ExportRequest`.

    Raises `InvalidExportRequest` listing every broken rule of SPEC 2.1 except the
    date-versus-today rule, which needs the space (see `check_export_date`).
    """
    if not isinstance(data, Mapping):
        raise InvalidExportRequest([FieldError("body", "must be a JSON object")])
    errors: list[FieldError] = []
    # An optional field is absent or valid: a null is reported, then set aside so the
    # other rules still run on what is left.
    nulls = [key for key, value in data.items() if value is None and key != "date"]
    errors.extend(FieldError(str(key), NULL_MESSAGE) for key in nulls)
    data = {key: value for key, value in data.items() if key not in nulls}
    date_error = _check_date_shape(data["date"]) if "date" in data else None
    if date_error:
        errors.append(date_error)
    shaped = dict(data)
    if "date" in shaped and date_error is None:
        shaped["date"] = dt.date.fromisoformat(data["date"])
    elif "date" in shaped:
        shaped["date"] = dt.date(2000, 1, 1)  # placeholder: its error is already recorded
    if "attribution_window" in shaped and isinstance(shaped["attribution_window"], bool):
        errors.append(FieldError("attribution_window", "must be an integer, not a boolean"))
        shaped.pop("attribution_window")
    try:
        request = ExportRequest.model_validate(shaped)
    except ValidationError as exc:
        errors.extend(_pydantic_errors(exc))
        request = None
    errors.extend(_cross_field_errors(data))
    if errors:
        raise InvalidExportRequest(errors)
    assert request is not None
    return request


def today_in(timezone: str, now: dt.datetime | None = None) -> dt.date:
    """Today's date in an IANA timezone."""
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(ZoneInfo(timezone)).date()


def check_export_date(
    date: dt.date, *, timezone: str, earliest: dt.date, now: dt.datetime | None = None
) -> None:
    """Raise `InvalidExportRequest` when `date` is after today in the space or too early."""
    today = today_in(timezone, now)
    if date > today:
        raise InvalidExportRequest(
            [FieldError("date", f"must not be after today ({today.isoformat()} in {timezone})")]
        )
    if date < earliest:
        raise InvalidExportRequest(
            [FieldError("date", f"must not be before {earliest.isoformat()}")]
        )


def request_from(stored: Any) -> ExportRequest:
    """The `ExportRequest` of a stored request (anything with `date` and `to_params()`).

    Raises pydantic's `ValidationError` when stored parameters no longer parse.
    """
    return ExportRequest.model_validate({**stored.to_params(), "date": stored.date}, strict=False)
