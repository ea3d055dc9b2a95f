"""The tracking client sends a batch as series; a server from before that form (which asks for `points`) gets the
same batch, same batch id, as points instead, so an upgraded client loses nothing against an older server.
The older server is stood in for by httpx.MockTransport: a server of another release cannot run here."""

import json

import httpx
import pytest

from eco import tracking


def _old_server(seen: list[dict]):
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        if "points" not in body:  # the old view's first check, word for word
            return httpx.Response(
                400, json={"errors": {"points": ["This field is required: a list of {key, step, value}."]}}
            )
        return httpx.Response(200, json={"received": len(body["points"]), "written": len(body["points"])})

    return answer


def test_a_series_batch_is_sent_again_as_points_to_a_server_that_asks_for_them(tmp_path):
    event = tracking._points_event(
        [("loss", 1, 0.5, 1_700_000_000.0), ("acc", 1, 0.9, 1_700_000_000.0), ("loss", 2, 0.25, 1_700_000_001.0)]
    )
    seen: list[dict] = []
    with httpx.Client(base_url="http://eco.test/api/v1/", transport=httpx.MockTransport(_old_server(seen))) as http:
        tracking.send_event(http, "run-1", event, tmp_path)
    first, second = seen
    assert [s["key"] for s in first["series"]] == ["loss", "acc"] and first["series"][0]["steps"] == [1, 2]
    assert second["batch_id"] == first["batch_id"]
    assert sorted((p["key"], p["step"], p["value"], p["time"]) for p in second["points"]) == [
        ("acc", 1, 0.9, 1_700_000_000.0),
        ("loss", 1, 0.5, 1_700_000_000.0),
        ("loss", 2, 0.25, 1_700_000_001.0),
    ]


def test_a_bad_batch_is_not_sent_again(tmp_path):
    """Only the old server's 'points required' answer is retried as points; another 400 stands."""
    seen: list[dict] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(400, json={"errors": {"series[0].values[0]": ["must be a finite number"]}})

    event = tracking._points_event([("loss", 1, 0.5, 1_700_000_000.0)])
    with httpx.Client(base_url="http://eco.test/api/v1/", transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(tracking.EcoError):
            tracking.send_event(http, "run-1", event, tmp_path)
    assert len(seen) == 1
