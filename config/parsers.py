"""Request body parsers with limits: a JSON or form body is read whole into memory, so it is capped
(ECO_MAX_JSON_BYTES, 413 beyond), and JSON nested too deeply for Python's parser is a 400, not a 500.
File uploads stream through MultiPartParser and datasets_app.uploads instead."""

import io
import re

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from config.errors import PayloadTooLarge, UserError


def _ensure_small(parser_context) -> None:
    request = (parser_context or {}).get("request")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
    except ValueError:
        length = 0
    if length > settings.ECO_MAX_JSON_BYTES:
        raise PayloadTooLarge(f"The request body is larger than {settings.ECO_MAX_JSON_BYTES} bytes.")


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _surrogate_path(value) -> tuple[str, str] | None:
    """Where the first string holding an unpaired surrogate (JSON's "\\ud800", not valid Unicode) sits, and
    the surrogate as U+XXXX; or None. Iterative: the parser has already bounded the depth, but a long list
    must not cost a recursion."""
    stack = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return where or "non_field_errors", f"U+{ord(item[exc.start]):04X}"
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, where or "non_field_errors"))
                stack.append((child, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
    return None


class JSONParser(parsers.JSONParser):
    """DRF's parser, capped in size, with deep nesting and invalid Unicode (a lone surrogate in a string,
    which PostgreSQL and every JSON encoder refuse later) answered as 400 here."""

    def parse(self, stream, media_type=None, parser_context=None):
        _ensure_small(parser_context)
        raw = stream.read() if stream is not None else b""
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        # Only a \uD800-\uDFFF escape can smuggle a surrogate past UTF-8 decoding; walking every parsed string
        # costs ~4 us per metric point, so the walk runs only for a body that holds such an escape.
        if _SURROGATE_ESCAPE.search(raw) and (found := _surrogate_path(data)) is not None:
            where, char = found
            raise UserError(f"contains an unpaired surrogate {char}: not valid Unicode.", field=where)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        _ensure_small(parser_context)
        return super().parse(stream, media_type, parser_context)


class MultiPartParser(parsers.MultiPartParser):
    """Django's multipart parser tells upload handlers only about some of the ways a body can break (a bad
    base64 part, a client that hangs up, a full disk do not reach them); this one always does, so the
    handlers' helper threads and temporary files end with the request."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except BaseException:
            request = (parser_context or {}).get("request")
            for handler in getattr(request, "upload_handlers", None) or []:
                handler.upload_interrupted()
            raise


class FastJSONParser(JSONParser):
    """JSON parsed by orjson, for hot endpoints (predict): strict like DRF's (no NaN or Infinity, numbers that
    overflow a double are errors), several times faster on large numeric bodies."""

    def parse(self, stream, media_type=None, parser_context=None):
        import orjson

        _ensure_small(parser_context)
        try:
            return orjson.loads(stream.read())
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
