"""MLflow's search grammar, over Eco's runs and experiments.

A filter is comparisons joined by AND (MLflow has no OR and no parentheses):

    metrics.loss < 0.5 AND params.optimizer = 'adam' AND tags.`mlflow.user` LIKE 'a%' AND attributes.status = 'FINISHED'

Identifiers are `<type>.<key>`: `metrics` (a number; a run without the metric never matches), `params` and
`tags` (strings: = != LIKE ILIKE, IS NULL, IS NOT NULL), `attributes` (run_id: = != IN NOT IN; run_name,
status, user_id: = != LIKE ILIKE; start_time, end_time, created: numbers of epoch milliseconds). A bare name is
an attribute. A key holding dots or other characters is quoted with backticks or double quotes. Strings are
quoted with ' or "; numbers are bare. `order_by` items are `<identifier> [ASC|DESC]`.

The grammar is MLflow's (mlflow/utils/search_utils.py, SearchUtils); a filter it refuses gets a clear
INVALID_PARAMETER_VALUE naming the problem. A run's metric value is its latest: the value at its highest step
(the latest in time there), as MLflow compares.
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import F, FloatField, OuterRef, Q, QuerySet, Subquery, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Concat, NullIf

from jobs_app.models import Job, JobStatus, MetricChunk
from ml.errors import UserError

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<word>[A-Za-z_][\w]*(?:\.(?:`[^`]*`|"[^"]*"|[\w.\-:/]+))?)
    |(?P<string>'[^']*'|"[^"]*")
    |(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    |(?P<op>>=|<=|!=|<>|=|>|<)
    |(?P<open>\()|(?P<close>\))|(?P<comma>,)
    )""",
    re.VERBOSE,
)
TYPES = {
    "metric": "metrics",
    "metrics": "metrics",
    "param": "params",
    "params": "params",
    "parameter": "params",
    "parameters": "params",
    "tag": "tags",
    "tags": "tags",
    "attribute": "attributes",
    "attributes": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
NUMERIC = (">", ">=", "<", "<=", "=", "!=")
STRING = ("=", "!=", "LIKE", "ILIKE")
# MLflow's run statuses and Eco's job statuses
STATUSES = {
    "RUNNING": [JobStatus.RUNNING],
    "SCHEDULED": [JobStatus.QUEUED],
    "FINISHED": [JobStatus.SUCCEEDED],
    "FAILED": [JobStatus.FAILED],
    "KILLED": [JobStatus.CANCELLED],
}


@dataclass(frozen=True)
class Clause:
    """One comparison: `kind` metrics|params|tags|attributes, `key`, `op` (upper case), `value` (str, float,
    list of str, or None for IS [NOT] NULL)."""

    kind: str
    key: str
    op: str
    value: object


def invalid(message: str, field: str = "filter") -> UserError:
    return UserError(message, field=field)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, at = [], 0
    text = text.rstrip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise invalid(f"cannot read the filter at position {at}: {text[at : at + 20]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        at = match.end()
    return tokens


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "`\"'" else text


def identifier(word: str, *, field: str = "filter") -> tuple[str, str]:
    """(`kind`, key) of an identifier such as `metrics.loss`, ``tags.`mlflow.user` `` or `start_time`."""
    if "." not in word:
        return "attributes", word
    head, key = word.split(".", 1)
    kind = TYPES.get(head.lower())
    if kind is None:
        raise invalid(f"unknown identifier type {head!r}: use metrics., params., tags. or attributes.", field=field)
    key = _unquote(key)
    if not key:
        raise invalid(f"{word!r} names no key.", field=field)
    return kind, key


def parse_filter(text, attributes: dict | None = None) -> list[Clause]:
    """The clauses of a filter string (empty or None: none); `attributes` the bare names allowed, each with its
    sort (id, string, number; default: a run's). Raises UserError (field `filter`)."""
    attributes = RUN_ATTRIBUTES if attributes is None else attributes
    if text is None or (isinstance(text, str) and not text.strip()):
        return []
    if not isinstance(text, str):
        raise invalid("must be a string.")
    tokens = _tokens(text)
    clauses, i = [], 0
    while True:
        if i >= len(tokens) or tokens[i][0] != "word":
            raise invalid("a comparison must start with an identifier such as metrics.loss or params.lr.")
        kind, key = identifier(tokens[i][1])
        i += 1
        op, i = _operator(tokens, i)
        if op in ("IS NULL", "IS NOT NULL"):
            value = None
        elif op in ("IN", "NOT IN"):
            value, i = _list(tokens, i)
        else:
            if i >= len(tokens) or tokens[i][0] not in ("string", "number"):
                raise invalid(f"{op} needs a value after it: a 'quoted string' or a number.")
            token_kind, text_value = tokens[i]
            value = _unquote(text_value) if token_kind == "string" else float(text_value)
            i += 1
        clauses.append(_checked(Clause(kind, key, op, value), attributes))
        if i == len(tokens):
            return clauses
        if tokens[i][0] != "word" or tokens[i][1].upper() != "AND":
            raise invalid(
                f"comparisons are joined by AND only (found {tokens[i][1]!r}); OR is not in MLflow's grammar."
            )
        i += 1


def _operator(tokens, i) -> tuple[str, int]:
    if i >= len(tokens):
        raise invalid("a comparison needs an operator.")
    kind, text = tokens[i]
    if kind == "op":
        return ("!=" if text == "<>" else text), i + 1
    word = text.upper() if kind == "word" else ""
    nxt = tokens[i + 1][1].upper() if i + 1 < len(tokens) and tokens[i + 1][0] == "word" else ""
    if word in ("LIKE", "ILIKE", "IN"):
        return word, i + 1
    if word == "NOT" and nxt == "IN":
        return "NOT IN", i + 2
    if word == "IS" and nxt == "NULL":
        return "IS NULL", i + 2
    if word == "IS" and nxt == "NOT":
        if i + 2 < len(tokens) and tokens[i + 2][1].upper() == "NULL":
            return "IS NOT NULL", i + 3
    raise invalid(f"unknown operator {text!r}: use = != < <= > >= LIKE ILIKE IN, NOT IN, IS NULL, IS NOT NULL.")


def _list(tokens, i) -> tuple[list[str], int]:
    if i >= len(tokens) or tokens[i][0] != "open":
        raise invalid("IN takes a list such as ('a', 'b').")
    values, i = [], i + 1
    while True:
        if i >= len(tokens) or tokens[i][0] != "string":
            raise invalid("a list holds quoted strings: ('a', 'b').")
        values.append(_unquote(tokens[i][1]))
        i += 1
        if i < len(tokens) and tokens[i][0] == "comma":
            i += 1
            continue
        if i < len(tokens) and tokens[i][0] == "close":
            return values, i + 1
        raise invalid("a list is closed by ')'.")


EXPERIMENT_ID = re.compile(r"[0-9]{1,18}")
OFFSET_MAX = 10**9

RUN_ATTRIBUTES = {
    "run_id": "id",
    "run_name": "string",
    "status": "string",
    "user_id": "string",
    "start_time": "number",
    "created": "number",
    "end_time": "number",
}
EXPERIMENT_ATTRIBUTES = {
    "name": "string",
    "experiment_id": "id",
    "creation_time": "number",
    "last_update_time": "number",
}


def _checked(clause: Clause, attributes: dict) -> Clause:
    kind, op, value = clause.kind, clause.op, clause.value
    if kind == "metrics":
        if op not in NUMERIC or not isinstance(value, float):
            raise invalid(f"metrics.{clause.key} compares with {', '.join(NUMERIC)} and a number.")
    elif kind in ("params", "tags"):
        if op not in (*STRING, "IS NULL", "IS NOT NULL") or (op in STRING and not isinstance(value, str)):
            raise invalid(f"{kind}.{clause.key} compares with = != LIKE ILIKE and a 'quoted string', or IS [NOT] NULL.")
    elif kind == "attributes":
        key = "run_name" if clause.key == "run name" else clause.key
        sort = attributes.get(key)
        if sort is None:
            raise invalid(f"unknown attribute {clause.key!r}: use one of {', '.join(attributes)}.")
        if sort == "number" and (op not in NUMERIC or not isinstance(value, float)):
            raise invalid(f"attributes.{key} compares with {', '.join(NUMERIC)} and a number of epoch milliseconds.")
        if sort == "string" and (op not in STRING or not isinstance(value, str)):
            raise invalid(f"attributes.{key} compares with = != LIKE ILIKE and a 'quoted string'.")
        if sort == "id" and (op not in ("=", "!=", "IN", "NOT IN") or isinstance(value, float)):
            raise invalid(f"attributes.{key} compares with = != IN NOT IN and a 'quoted id' or a list of them.")
        return Clause(kind, key, op, value)
    return clause


def like_regex(pattern: str) -> str:
    """A SQL LIKE pattern (% any run of characters, _ one character) as an anchored regular expression."""
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return "^" + "".join(parts) + "$"


def compare(field: str, op: str, value) -> Q:
    """A Q comparing annotation/field `field` with `value` (`!=` and the others never match a NULL)."""
    if op == "IS NULL":
        return Q(**{f"{field}__isnull": True})
    if op == "IS NOT NULL":
        return Q(**{f"{field}__isnull": False})
    if op == "!=":
        return Q(**{f"{field}__isnull": False}) & ~Q(**{field: value})
    lookup = {
        "=": "exact",
        ">": "gt",
        ">=": "gte",
        "<": "lt",
        "<=": "lte",
        "LIKE": "regex",
        "ILIKE": "iregex",
        "IN": "in",
    }.get(op)
    if op in ("LIKE", "ILIKE"):
        value = like_regex(value)
    if op == "NOT IN":
        return Q(**{f"{field}__isnull": False}) & ~Q(**{f"{field}__in": value})
    return Q(**{f"{field}__{lookup}": value})


def latest_metric(key: str):
    """A subquery: a run's latest value of metric `key` (its last chunk's last point), NULL without one or when it
    is NaN: PostgreSQL orders NaN above every number, and MLflow's search matches no comparison with a NaN and
    sorts it after every number either way, as a missing value."""
    last = MetricChunk.objects.filter(job_id=OuterRef("pk"), key=key).order_by("-block").values("last_value")[:1]
    return NullIf(Subquery(last, output_field=FloatField()), Value(math.nan, output_field=FloatField()))


def _annotated(runs: QuerySet, kind: str, key: str, name: str) -> QuerySet:
    """`runs` annotated with `name`: the latest value of metric `key`, or parameter or tag `key` (by `kind`)."""
    if kind == "metrics":
        return runs.annotate(**{name: latest_metric(key)})
    if kind == "params":
        return runs.annotate(**{name: KeyTextTransform(key, KeyTextTransform("params", "spec"))})
    return runs.annotate(**{name: KeyTextTransform(key, "tags")})


def _ms(value: float) -> datetime:
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise invalid(f"{value:g} is not a time in epoch milliseconds Eco can hold.") from None


def parse_run_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


def _term(runs: QuerySet, clause: Clause, n: int) -> tuple[QuerySet, Q]:
    """The run queryset (annotated as the clause needs) and the Q of one clause."""
    kind, key, op, value = clause.kind, clause.key, clause.op, clause.value
    name = f"_f{n}"
    if kind in ("metrics", "params", "tags"):
        return _annotated(runs, kind, key, name), compare(name, op, value)
    if key == "run_id":
        ids = [value] if isinstance(value, str) else value
        parsed = [found for found in map(parse_run_id, ids) if found is not None]
        if op in ("=", "IN"):
            return runs, Q(pk__in=parsed)
        return runs, ~Q(pk__in=parsed)
    if key == "status":
        if op in ("=", "!="):
            matched = STATUSES.get(value, [])
        else:
            regex = re.compile(like_regex(value), re.IGNORECASE if op == "ILIKE" else 0)
            matched = [s for mlflow, eco in STATUSES.items() if regex.match(mlflow) for s in eco]
        q = Q(status__in=matched)
        return runs, (~q if op == "!=" else q)
    if key in ("run_name", "user_id"):
        field = "name" if key == "run_name" else "created_by__username"
        return runs, compare(field, op, value)
    field = "finished_at" if key == "end_time" else "started_at"
    return runs, compare(field, op, _ms(value))


def filter_runs(runs: QuerySet[Job], text) -> QuerySet[Job]:
    """`runs` narrowed by the filter string (parse_filter). Raises UserError."""
    for n, clause in enumerate(parse_filter(text)):
        runs, q = _term(runs, clause, n)
        runs = runs.filter(q)
    return runs


def _order_items(order_by, field: str = "order_by") -> list[tuple[str, str, bool]]:
    """(kind, key, ascending) of each `order_by` item. Raises UserError."""
    if order_by in (None, ""):
        return []
    items = [order_by] if isinstance(order_by, str) else order_by
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise invalid("must be a list of strings such as 'metrics.loss DESC'.", field)
    out = []
    for item in items:
        words = item.strip()
        ascending = True
        upper = words.upper()
        if upper.endswith(" DESC") or upper.endswith(" ASC"):
            ascending = upper.endswith(" ASC")
            words = words.rsplit(" ", 1)[0].strip()
        tokens = _tokens(words) if words else []
        if len(tokens) != 1 or tokens[0][0] != "word":
            raise invalid(f"cannot order by {item!r}: give an identifier and ASC or DESC.", field)
        kind, key = identifier(tokens[0][1], field=field)
        out.append((kind, key, ascending))
    return out


RUN_ORDER = {
    "run_id": "id",
    "run_name": "name",
    "status": "status",
    "user_id": "created_by__username",
    "start_time": "started_at",
    "created": "started_at",
    "end_time": "finished_at",
}


def order_runs(runs: QuerySet[Job], order_by) -> QuerySet[Job]:
    """`runs` in the order `order_by` asks (missing values last), then start time descending, then run id, as
    MLflow orders. Raises UserError for an unknown attribute."""
    ordering, seen_start = [], False
    for n, (kind, key, ascending) in enumerate(_order_items(order_by)):
        name = f"_o{n}"
        if kind in ("metrics", "params", "tags"):
            runs = _annotated(runs, kind, key, name)
        else:
            key = "run_name" if key == "run name" else key
            if key not in RUN_ORDER:
                raise invalid(f"cannot order by attribute {key!r}: use one of {', '.join(RUN_ORDER)}.", "order_by")
            name = RUN_ORDER[key]
            seen_start = seen_start or name == "started_at"
        expression = F(name)
        ordering.append(expression.asc(nulls_last=True) if ascending else expression.desc(nulls_last=True))
    if not seen_start:
        ordering.append(F("started_at").desc(nulls_last=True))
    ordering.append(F("id").asc())
    return runs.order_by(*ordering)


EXPERIMENT_ORDER = {
    "name": "_full_name",
    "experiment_id": "id",
    "creation_time": "created_at",
    "last_update_time": "updated_at",
}


def team_name(slug: str = "team__slug", name: str = "name"):
    """The expression `team/name`: the name MLflow's clients see for a team's experiment or model."""
    return Concat(F(slug), Value("/"), F(name), output_field=TextField())


def with_full_name(experiments: QuerySet) -> QuerySet:
    """Experiments annotated with `_full_name`, the `team/name` MLflow's clients see."""
    return experiments.annotate(_full_name=team_name())


def filter_tag(queryset: QuerySet, clause: Clause, n: int, *, registry: bool = False) -> QuerySet:
    """`queryset` (rows with a `tags` JSON object) narrowed by the clause on `tags.<key>`. In the model registry
    a negation (`!=`) also matches a row without the tag, as MLflow's client relies on: it excludes prompts from
    every model search with tags.`mlflow.prompt.is_prompt` != 'true'."""
    queryset = queryset.annotate(**{f"_t{n}": KeyTextTransform(clause.key, "tags")})
    condition = compare(f"_t{n}", clause.op, clause.value)
    if registry and clause.op == "!=":
        condition |= Q(**{f"_t{n}__isnull": True})
    return queryset.filter(condition)


def filter_name(queryset: QuerySet, clause: Clause, field: str = "name") -> QuerySet:
    """`queryset` (annotated with `_full_name`) narrowed by a clause on a name, which matches the plain name or
    `team/name`; a negation must hold for both."""
    plain, full = compare(field, clause.op, clause.value), compare("_full_name", clause.op, clause.value)
    return queryset.filter(plain & full if clause.op in ("!=", "NOT IN") else plain | full)


def filter_experiments(experiments: QuerySet, text) -> QuerySet:
    """`experiments` (with_full_name) narrowed by a filter over `name` (the plain name or team/name),
    `experiment_id`, `creation_time`, `last_update_time` and `tags.<key>`. Raises UserError."""
    for n, clause in enumerate(parse_filter(text, EXPERIMENT_ATTRIBUTES)):
        kind, key, op, value = clause.kind, clause.key, clause.op, clause.value
        if kind == "metrics" or kind == "params":
            raise invalid(f"experiments have no {kind}: filter by name, experiment_id, creation_time, tags.<key>.")
        if kind == "tags":
            experiments = filter_tag(experiments, clause, n)
        elif kind == "attributes" and key == "name" and op in STRING:
            experiments = filter_name(experiments, clause)
        elif kind == "attributes" and key == "experiment_id" and op in ("=", "!=", "IN", "NOT IN"):
            ids = [v for v in ([value] if isinstance(value, str) else value) if EXPERIMENT_ID.fullmatch(str(v))]
            q = Q(pk__in=[int(v) for v in ids])
            experiments = experiments.filter(q if op in ("=", "IN") else ~q)
        elif kind == "attributes" and key in ("creation_time", "last_update_time") and isinstance(value, float):
            field = "created_at" if key == "creation_time" else "updated_at"
            experiments = experiments.filter(compare(field, op, _ms(value)))
        else:
            raise invalid(
                f"cannot filter experiments by {kind}.{key} {op}: use name, experiment_id, creation_time, "
                "last_update_time or tags.<key>."
            )
    return experiments


def order_by_attributes(queryset: QuerySet, order_by, fields: dict[str, str], *, default: tuple) -> QuerySet:
    """`queryset` in the order `order_by` asks ("<attribute> [ASC|DESC]", attributes the keys of `fields`, each
    mapped to its field), then `default`. Raises UserError naming the attributes allowed."""
    ordering = []
    for kind, key, ascending in _order_items(order_by):
        if kind != "attributes" or key not in fields:
            raise invalid(f"cannot order by {key!r}: use one of {', '.join(fields)}.", "order_by")
        expression = F(fields[key])
        ordering.append(expression.asc() if ascending else expression.desc())
    return queryset.order_by(*ordering, *default)


def order_experiments(experiments: QuerySet, order_by) -> QuerySet:
    """`experiments` (with_full_name) in the order asked, then creation time descending and id, as MLflow."""
    return order_by_attributes(experiments, order_by, EXPERIMENT_ORDER, default=(F("created_at").desc(), F("id").asc()))


def page(queryset: QuerySet, max_results, page_token, *, default: int, limit: int) -> tuple[list, str | None]:
    """(one page of `queryset`, the next page's token or None on the last page). `max_results` at most
    `limit`; tokens are opaque (base64 JSON of an offset). Raises UserError for a bad size or token."""
    size = default if max_results in (None, "") else _int(max_results, "max_results")
    if not 1 <= size <= limit:
        raise invalid(f"must be from 1 to {limit}.", "max_results")
    offset = token_offset(page_token)
    rows = list(queryset[offset : offset + size + 1])
    return rows[:size], offset_token(offset + size) if len(rows) > size else None


def token_offset(page_token) -> int:
    """The offset a page token (offset_token) holds; 0 for none. Raises UserError for a token not ours."""
    if not page_token:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(str(page_token).encode()))["offset"])
    except (ValueError, KeyError, TypeError):
        raise invalid("is not a page token this server gave.", "page_token") from None
    if not 0 <= offset <= OFFSET_MAX:
        raise invalid("is not a page token this server gave.", "page_token")
    return offset


def offset_token(offset: int) -> str:
    """An opaque page token: base64 JSON of the next page's offset."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _int(value, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise invalid("must be an integer.", field) from None
