"""Request body parsers with limits: a JSON or form body is read whole into memory, so it is capped
(ECO_MAX_JSON_BYTES, 413 beyond), and JSON nested too deeply for Python's parser is a 400, not a 500.
File uploads stream through MultiPartParser and datasets_app.uploads instead."""

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from config.errors import PayloadTooLarge


def _ensure_small(parser_context) -> None:
    request = (parser_context or {}).get("request")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
    except ValueError:
        length = 0
    if length > settings.ECO_MAX_JSON_BYTES:
        raise PayloadTooLarge(f"The request body is larger than {settings.ECO_MAX_JSON_BYTES} bytes.")


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        _ensure_small(parser_context)
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


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
