"""The export request and its rules (SPEC 2.1), shared by the API and the pipeline.

`ExportRequest` is the one schema: each field declares its rule (its OpenAPI schema is
generated from it), and a model validator adds the rules that combine fields.
`parse_export_request` turns untrusted JSON-decoded input into an `ExportRequest` or
raises `InvalidExportRequest` carrying one `FieldError` per broken rule, each naming the
field and the rule. `check_export_date` is the second, explicit step: the rules that
need the space's timezone.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import (
    InitErrorDetails,
    PydanticCustomError,
    PydanticKnownError,
    core_schema,
)

from exports_pipeline.clock import today_in
from exports_pipeline.engine.models import MODELS
from exports_pipeline.formats import DEFAULT_FORMAT, ExportFormat
from exports_pipeline.vocabulary import (
    AD_HIERARCHY_FIELDS,
    ATTRIBUTION_MODELS,
    ATTRIBUTION_ONLY_FIELDS,
    ATTRIBUTION_WINDOWS,
    CUSTOM_EVENT_NAMES,
    EXPORT_FIELDS,
    HALF_LIFE_DAYS,
    SOURCES,
    STANDARD_EVENT_NAMES,
    QueryMode,
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


def _rule(message: str) -> PydanticCustomError:
    """A broken rule in our own words (passed as context: a message is no template)."""
    return PydanticCustomError("export_rule", "{rule}", {"rule": message})


def _parse_date(value: object) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        raise _rule("must be a string in YYYY-MM-DD format")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _rule(f"{value!r} is not a real calendar date") from None


def _one_of(allowed: tuple[Any, ...]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise _rule(f"must be one of {', '.join(map(str, allowed))}")
        return value

    return check


def _not_bool(value: object) -> object:
    if isinstance(value, bool):
        raise _rule("must be an integer, not a boolean")
    return value


@dataclass(frozen=True)
class DistinctValues:
    """`Annotated` metadata of a list field: 1..`most` distinct values of `allowed`, kept
    in the client's order, with the JSON schema saying so."""

    allowed: tuple[str, ...]
    most: int
    noun: str

    def check(self, values: list[str]) -> list[str]:
        if len(values) < 1:
            raise _rule("must contain at least 1 item")
        if len(values) > self.most:
            raise _rule(f"must contain at most {self.most} items, got {len(values)}")
        seen: set[str] = set()
        for value in values:
            if value not in self.allowed:
                raise _rule(f"unknown {self.noun} {value!r}")
            if value in seen:
                raise _rule(f"duplicate value {value!r}")
            seen.add(value)
        return values

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(
            items={"type": "string", "enum": list(self.allowed)},
            minItems=1,
            maxItems=self.most,
            uniqueItems=True,
        )
        return json_schema


ExportDate = Annotated[
    dt.date,
    BeforeValidator(_parse_date),
    Field(
        description="Day to export (YYYY-MM-DD) in the space's timezone; not after today "
        "there, not before the earliest exportable date (default 2020-01-01).",
        json_schema_extra={"pattern": r"^\d{4}-\d{2}-\d{2}$", "example": "2024-01-15"},
    ),
]
EventNames = Annotated[
    list[str],
    DistinctValues(STANDARD_EVENT_NAMES + CUSTOM_EVENT_NAMES, most=10, noun="event name"),
]
Sources = Annotated[list[str], DistinctValues(SOURCES, most=15, noun="source")]
ExportFields = Annotated[list[str], DistinctValues(EXPORT_FIELDS, most=20, noun="field")]
AttributionModel = Annotated[
    str,
    AfterValidator(_one_of(ATTRIBUTION_MODELS)),
    Field(json_schema_extra={"enum": list(ATTRIBUTION_MODELS)}),
]
AttributionWindow = Annotated[
    int,
    BeforeValidator(_not_bool),
    AfterValidator(_one_of(ATTRIBUTION_WINDOWS)),
    Field(json_schema_extra={"enum": list(ATTRIBUTION_WINDOWS)}),
]


def _half_life(days: int) -> int:
    if days not in HALF_LIFE_DAYS:
        raise _rule(f"must be from {HALF_LIFE_DAYS[0]} to {HALF_LIFE_DAYS[-1]} (days)")
    return days


MAX_ROWS_PER_FILE = (1_000, 10_000_000)
EXPORT_FORMATS: tuple[str, ...] = tuple(ExportFormat)


def _export_format(value: object) -> ExportFormat:
    # A strict model takes an `ExportFormat` field only as a member: a known name becomes
    # its member here, and a value that is no string is refused as a string field would.
    if not isinstance(value, str):
        raise PydanticKnownError("string_type")
    return ExportFormat(_one_of(EXPORT_FORMATS)(value))


def _max_rows_per_file(rows: int) -> int:
    least, most = MAX_ROWS_PER_FILE
    if not least <= rows <= most:
        raise _rule(f"must be from {least:,} to {most:,} (rows)")
    return rows


def _position_weights(weights: list[int]) -> list[int]:
    if len(weights) != 2:
        raise _rule(f"must be 2 integers [first, last], got {len(weights)} items")
    if any(not 0 <= w <= 100 for w in weights):
        raise _rule("each weight must be from 0 to 100 (percent)")
    if sum(weights) > 100:
        raise _rule(f"first + last must be at most 100, got {sum(weights)}")
    return weights


HalfLifeDays = Annotated[
    int,
    BeforeValidator(_not_bool),
    AfterValidator(_half_life),
    Field(json_schema_extra={"minimum": HALF_LIFE_DAYS[0], "maximum": HALF_LIFE_DAYS[-1]}),
]
RequestedFormat = Annotated[
    ExportFormat,
    BeforeValidator(_export_format),
    WithJsonSchema({"type": "string", "enum": list(EXPORT_FORMATS)}),
]
MaxRowsPerFile = Annotated[
    int,
    BeforeValidator(_not_bool),
    AfterValidator(_max_rows_per_file),
    Field(json_schema_extra={"minimum": MAX_ROWS_PER_FILE[0], "maximum": MAX_ROWS_PER_FILE[1]}),
]
PositionWeights = Annotated[
    list[Annotated[int, BeforeValidator(_not_bool)]],
    AfterValidator(_position_weights),
    Field(
        json_schema_extra={
            "minItems": 2,
            "maxItems": 2,
            "items": {"type": "integer", "minimum": 0, "maximum": 100},
        }
    ),
]


def _without_nulls(schema: dict[str, Any]) -> None:
    # An optional field is absent or valid: document neither `null` among its types nor
    # `"default": null`, both of which would invite the null the rules refuse.
    for name, prop in schema.get("properties", {}).items():
        if prop.get("default", ...) is None:
            del prop["default"]
        kinds = [k for k in prop.pop("anyOf", ()) if k != {"type": "null"}]
        if kinds:
            schema["properties"][name] = {**kinds[0], **prop}


class ExportRequest(BaseModel):
    """An export request (SPEC 2.1). An optional field is absent or valid, never null.

    Strict: a JSON value of the wrong type is refused, not converted (`"7"` for an integer,
    `true` for a number); an unknown key is an error.
    """

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        title="CreateExportRequest",
        json_schema_extra=_without_nulls,
    )

    date: ExportDate
    query_mode: QueryMode = "profile"
    event_names: EventNames | None = Field(
        default=None, description="Only these events (default: all)."
    )
    sources: Sources | None = Field(
        default=None, description="Attribute events to touchpoints of these traffic sources."
    )
    attribution_model: AttributionModel | None = Field(
        default=None, description="Required when sources is given."
    )
    attribution_window: AttributionWindow | None = Field(
        default=None,
        description="Lookback in days (0 = lifetime); required when sources is given.",
    )
    fields: ExportFields | None = Field(
        default=None, description="Fields of each row besides the always-included ones."
    )
    attribution_half_life_days: HalfLifeDays | None = Field(
        default=None,
        description="Half-life of a touch's weight in days (default 7); only with time_decay.",
    )
    position_weights: PositionWeights | None = Field(
        default=None,
        description="[first, last] percentages of the ends (integers 0-100, sum at most 100); "
        "required with position_based, allowed only with it.",
    )
    format: RequestedFormat | None = Field(
        default=None,
        title="Format",
        description="File format: ndjson (gzip NDJSON, the default), csv (gzip CSV) or "
        "parquet (zstd).",
    )
    max_rows_per_file: MaxRowsPerFile | None = Field(
        default=None,
        description="Split the export into parts of at most this many rows, listed by a "
        "manifest (1,000 to 10,000,000).",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: object, info: ValidationInfo) -> object:
        if value is None:
            raise _rule("must not be null" if info.field_name == "date" else NULL_MESSAGE)
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _combined_rules(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """The rules that combine fields, reported together with every field's own errors."""
        try:
            request, errors = handler(data), []
        except ValidationError as exc:
            request = None
            errors = [
                InitErrorDetails(
                    type=e["type"], loc=e["loc"], input=e["input"], ctx=e.get("ctx", {})
                )
                if e["type"] != "export_rule"
                else InitErrorDetails(type=_rule(e["msg"]), loc=e["loc"], input=e["input"])
                for e in exc.errors()
            ]
        if isinstance(data, Mapping):
            errors.extend(
                InitErrorDetails(type=_rule(message), loc=(field,), input=data)
                for field, message in _combination_errors(data)
            )
        if request is not None and not errors:
            return request
        raise ValidationError.from_exception_data(cls.__name__, errors)

    @property
    def attributed(self) -> bool:
        """True when the export attributes events to touchpoints of `sources`."""
        return self.sources is not None

    @property
    def lookback(self) -> dt.timedelta | None:
        """How far before an event its journey reaches; None for a lifetime window (0)."""
        if not self.attribution_window:
            return None
        return dt.timedelta(days=self.attribution_window)

    @property
    def wants_ad_hierarchy(self) -> bool:
        return any(f in AD_HIERARCHY_FIELDS for f in self.fields or ())

    @property
    def file_format(self) -> ExportFormat:
        """The format of the export's files: `format`, or `ndjson` when absent."""
        return self.format or DEFAULT_FORMAT

    def to_params(self) -> dict[str, Any]:
        """JSON-ready parameters, without the date and without absent fields."""
        return self.model_dump(mode="json", exclude_none=True, exclude={"date"})


def _combination_errors(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, rule) for each broken rule combining fields, read off the raw input so
    they are reported even when a field breaks its own rule."""
    errors: list[tuple[str, str]] = []
    data = {key: value for key, value in data.items() if value is not None}  # each reported
    model = data.get("attribution_model")
    chosen = MODELS.get(model) if isinstance(model, str) else None
    for owner in MODELS.values():
        for key in owner.parameters:
            if key in data and owner is not chosen:
                errors.append((key, f"allowed only with attribution_model {owner.name}"))
    missing = [key for key in chosen.required if key not in data] if chosen is not None else []
    errors.extend((key, f"required with attribution_model {model}") for key in missing)
    if "sources" not in data:
        for key in ("attribution_model", "attribution_window"):
            if key in data:
                errors.append((key, "requires sources"))
        fields = data.get("fields")
        for field in fields if isinstance(fields, list) else ():
            if isinstance(field, str) and field in ATTRIBUTION_ONLY_FIELDS:
                errors.append(("fields", f"{field} requires sources"))
        return errors
    for key in ("attribution_model", "attribution_window"):
        if key not in data:
            errors.append((key, "required when sources is given"))
    sources = data.get("sources")
    if (
        chosen is not None
        and chosen.paid_only
        and isinstance(sources, list)
        and not any(isinstance(s, str) and is_paid(s) for s in sources)
    ):
        errors.append(
            ("attribution_model", f"{model} requires at least one paid (*_ads) source in sources")
        )
    return errors


def field_errors(exc: ValidationError) -> list[FieldError]:
    """pydantic's errors of `ExportRequest` as `FieldError`s in the API's words."""
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        field = loc[0] if loc else "body"
        if not loc:
            errors.append(FieldError(field, "must be a JSON object"))
        elif err["type"] == "extra_forbidden":
            errors.append(FieldError(field, "unknown field (not part of the request)"))
        elif err["type"] == "missing":
            errors.append(FieldError(field, "field required"))
        elif len(loc) > 1:
            errors.append(FieldError(field, f"item {loc[1]}: {err['msg']}"))
        else:
            errors.append(FieldError(field, err["msg"]))
    return errors


def parse_export_request(data: object) -> ExportRequest:
    """Validate untrusted input (already JSON-decoded) into an `ExportRequest`.

    Raises `InvalidExportRequest` listing every broken rule of SPEC 2.1 except the
    date-versus-today rule, which needs the space (see `check_export_date`).
    """
    try:
        return ExportRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidExportRequest(field_errors(exc)) from None


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


def _date_of(data: object) -> dt.date | None:
    if not isinstance(data, Mapping):
        return None
    try:
        return _parse_date(data.get("date"))
    except PydanticCustomError:
        return None


def parse_export_body(
    raw: bytes | str, *, timezone: str, earliest: dt.date, now: dt.datetime | None = None
) -> ExportRequest:
    """The validated request of a raw JSON body for a space in `timezone`, or
    `InvalidExportRequest` listing every broken rule: the body's shape, each field, the
    combinations, and then (the second step) the date against today there."""
    if not raw.strip():
        raise InvalidExportRequest([FieldError("body", "must be a JSON object, got an empty body")])
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidExportRequest([FieldError("body", "is not valid JSON")]) from None
    errors: list[FieldError] = []
    request: ExportRequest | None = None
    try:
        request = parse_export_request(data)
    except InvalidExportRequest as exc:
        errors.extend(exc.errors)
    except RecursionError:
        errors.append(FieldError("body", "is nested too deeply"))
    date = request.date if request is not None else _date_of(data)
    if date is not None:
        try:
            check_export_date(date, timezone=timezone, earliest=earliest, now=now)
        except InvalidExportRequest as exc:
            errors.extend(exc.errors)
    if errors or request is None:
        raise InvalidExportRequest(errors)
    return request


def params_from_json(text: str) -> dict[str, Any]:
    """The parameters of a request given as JSON text without its date (a subscription,
    a run tag); `ValueError` naming the rule when it is not a JSON object without date.
    The parameters themselves are checked when the request is parsed with its date."""
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not JSON: {exc}") from exc
    if not isinstance(params, dict) or "date" in params:
        raise ValueError("must be a JSON object without a date")
    return params


def request_from(stored: Any) -> ExportRequest:
    """The `ExportRequest` of a stored request (anything with `date` and `to_params()`).

    Raises `InvalidExportRequest` when stored parameters no longer parse.
    """
    return parse_export_request({**stored.to_params(), "date": stored.date})
