"""The dashboard end to end: the built app served by the Procfile's web line, a real Celery worker, and
Debian's chromium driven by Playwright (`frontend/e2e/*.spec.ts`). The worker and stack fixtures are the
ones tests/worker uses (same PostgreSQL test database and Redis broker)."""

from tests.worker.conftest import _shared_files, stack, worker  # noqa: F401 (fixtures)
