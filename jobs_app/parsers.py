"""Request body parsers of the jobs API."""

import io

from rest_framework.exceptions import ParseError

from config.parsers import FastJSONParser, JSONParser


class MetricsJSONParser(FastJSONParser):
    """orjson for metric batches (a 1,000-point body parses several times faster than with DRF's parser); a body
    orjson refuses is parsed again by the standard parser, so the answer names the problem as everywhere else
    (an integer beyond 64 bits is a number the point check then refuses by name: points[3].value)."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except ParseError:
            return JSONParser().parse(io.BytesIO(raw), media_type, parser_context)
