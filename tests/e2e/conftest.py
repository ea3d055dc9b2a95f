"""The dashboard end to end: the built app served by the Procfile's web line, a real Celery worker, and
Debian's chromium driven by Playwright (`frontend/e2e/*.spec.ts`). The worker and its stack come from
tests/stack.py, the same session fixtures tests/worker uses."""
