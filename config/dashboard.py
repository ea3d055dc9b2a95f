"""Serves the dashboard: the Vite build in `frontend/dist/` (built by `make run` / `make test`).

WhiteNoise serves the build's files from the site root (`/assets/<name>-<hash>.js` is cached for a year, its
name changes with its content); every other path outside the API, the admin and the docs gets `index.html`,
so a deep link (`/jobs/<id>?keys=loss`) opens the app at that page.
"""

from __future__ import annotations

from csp.decorators import csp_update
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Eco</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>Eco</h1><p>The dashboard is not built. Run <code>make run</code> (or <code>cd frontend &amp;&amp; npm ci &amp;&amp;
npm run build</code>). Meanwhile: <a href="/api/docs/">API documentation</a>, <a href="/admin/">admin</a>.</p>
</body></html>"""


@never_cache  # index.html names the current hashed bundles; a cached copy would point at deleted ones
@ensure_csrf_cookie  # the app reads the csrftoken cookie for its unsafe requests
# the submit form validates the job kinds' JSON schemas (sent by the server) with Ajv, which compiles each to a
# function (`new Function`): the page needs 'unsafe-eval'; inline scripts stay refused
@csp_update({"script-src": ["'unsafe-eval'"]})
def dashboard(request: HttpRequest, path: str = "") -> HttpResponse:
    """index.html of the build for any app path; 503 with a how-to page when the build is missing."""
    index = settings.DASHBOARD_DIR / "index.html"
    try:
        html = index.read_bytes()
    except FileNotFoundError:
        return HttpResponse(NOT_BUILT, status=503)
    return HttpResponse(html, content_type="text/html; charset=utf-8")
