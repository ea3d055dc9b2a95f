"""Eco settings: everything comes from the environment, with defaults that run a fresh clone with no servers.

Defaults: SQLite (WAL) in var/, Celery's filesystem:// broker in var/broker/, media in var/media/.
Production sets DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis), SECRET_KEY and DEBUG=false.
"""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

VAR_DIR = Path(env("ECO_VAR_DIR", default=str(BASE_DIR / "var")))
for sub in ("media", "broker/out", "broker/processed", "broker/control", "tmp", "static"):
    (VAR_DIR / sub).mkdir(parents=True, exist_ok=True)

# Fail closed: debug only when asked for (`make run` and the test suite ask); a production process refuses to
# start without a real secret key of its own.
DEBUG = env.bool("DEBUG", default=False)
# keys that were ever public (this project's old development default) or too short to be one
_PUBLIC_KEYS = {"dev-only-insecure-key-change-me-in-production-0123456789"}
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY and DEBUG:
    # development: a random key of this checkout's own, kept in var/ so sessions survive a restart
    _key_file = VAR_DIR / "secret_key"
    if not _key_file.exists():
        import secrets

        _key_file.touch(mode=0o600)
        _key_file.write_text(secrets.token_urlsafe(50))
    SECRET_KEY = _key_file.read_text().strip()
if not DEBUG and (not SECRET_KEY or SECRET_KEY in _PUBLIC_KEYS or len(SECRET_KEY) < 50):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a private random value of at least 50 characters when DEBUG is off "
        "(production); set DEBUG=true for development."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "accounts_app",
    "datasets_app",
    "models_app",
    "jobs_app",
    "mlflow_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.RejectNulInQueryMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # last: it turns a login refused for too many failures (on any path) into a 429
    "axes.middleware.AxesMiddleware",
]
AUTHENTICATION_BACKENDS = [
    # first: it refuses a locked-out account or address before any password is checked
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
CSRF_FAILURE_VIEW = "config.api.csrf_failure"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'eco.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # a file, not memory, so a worker process started by the tests sees the test database
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
            "transaction_mode": "IMMEDIATE",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
    # Django binds parameters client-side and never prepares; this lets the few hot queries that ask for it
    # (the predict endpoint's version lookup) be planned once per connection.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts_app.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/admin/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- files ----------------------------------------------------------------------------------------
STATIC_URL = "/static/"
# the dashboard's Vite build: WhiteNoise serves its files from the site root, config.dashboard its index.html
DASHBOARD_DIR = Path(env("ECO_DASHBOARD_DIR", default=str(BASE_DIR / "frontend" / "dist")))
WHITENOISE_ROOT = DASHBOARD_DIR
WHITENOISE_AUTOREFRESH = DEBUG  # a rebuild while the server runs is picked up without a restart
WHITENOISE_IMMUTABLE_FILE_TEST = r"^/assets/.+-[0-9A-Za-z_-]{8}\.[0-9a-z]+$"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "static")))
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
# Uploads stream to temporary files next to the blob store, so moving one in is a rename.
FILE_UPLOAD_TEMP_DIR = str(VAR_DIR / "tmp")
FILE_UPLOAD_HANDLERS = ["datasets_app.uploads.HashingUploadHandler"]
FILE_UPLOAD_PERMISSIONS = 0o644
# Largest accepted upload (bytes); larger requests get 413.
ECO_MAX_UPLOAD_BYTES = env.int("ECO_MAX_UPLOAD_BYTES", default=2 * 1024**3)
# Largest JSON or form body (bytes); these are read whole into memory.
ECO_MAX_JSON_BYTES = env.int("ECO_MAX_JSON_BYTES", default=10 * 1024 * 1024)
# Django's own cap on a body read into memory; the same figure, so one setting rules (413 beyond it).
DATA_UPLOAD_MAX_MEMORY_SIZE = ECO_MAX_JSON_BYTES
# Chunk size the upload handler asks the multipart parser for.
ECO_UPLOAD_CHUNK_BYTES = env.int("ECO_UPLOAD_CHUNK_BYTES", default=1024 * 1024)
# The reaper deletes upload temporary files (of uploads a killed web process left) not written for this long.
ECO_UPLOAD_TMP_MAX_AGE_S = env.float("ECO_UPLOAD_TMP_MAX_AGE_S", default=3600.0)
# A deleted data set or model can be restored (Django admin) for this many days; the reaper purges it after.
ECO_RETENTION_DAYS = env.float("ECO_RETENTION_DAYS", default=30.0)

AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    blob_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env("AWS_S3_REGION_NAME", default=None),
            "file_overwrite": False,
            "default_acl": None,
        },
    }
else:
    blob_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": blob_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts_app.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts_app.permissions.TeamRole",  # each view's minimum role per method
        "accounts_app.permissions.TokenScopeAllows",  # an API token's scope caps it below its user's roles
    ],
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "DEFAULT_METADATA_CLASS": "config.metadata.Metadata",
    # JSON only: a multipart or form body elsewhere answers 415 before it is read. The endpoints that take
    # files (dataset and model version uploads) name their parsers themselves.
    "DEFAULT_PARSER_CLASSES": ["config.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    # per user and per API token (anonymous callers per address); rates per second keep the history short
    "DEFAULT_THROTTLE_CLASSES": ["accounts_app.throttling.CallerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "login": env("ECO_LOGIN_RATE", default="30/min"),
        "caller": env("ECO_CALLER_RATE", default="200/s"),
        "anonymous": env("ECO_ANON_RATE", default="20/s"),
    },
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Eco API",
    "DESCRIPTION": "Registry of teams, datasets, models and jobs for the Eco ML lifecycle platform.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.api.add_error_responses"],
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs_app.models.JobStatus",
        "TriggerRunStatusEnum": "jobs_app.models.RunStatus",
        "ModelVersionStatusEnum": "models_app.models.VersionStatus",
        "DatasetVersionStatusEnum": "datasets_app.models.VersionStatus",
        "MetricDirectionEnum": "jobs_app.metrics.DIRECTIONS",
        "GateDirectionEnum": "models_app.models.Direction",
    },
}
ECO_TOKEN_DEFAULT_DAYS = env.int("ECO_TOKEN_DEFAULT_DAYS", default=90)
# An invitation to a team not accepted within this many days lapses.
ECO_INVITATION_DAYS = env.int("ECO_INVITATION_DAYS", default=14)
# A verified API token is trusted for this many seconds per web process without looking it up again; a token
# revoked in another process stops working within this time (0: look it up on every request).
ECO_TOKEN_CACHE_S = env.float("ECO_TOKEN_CACHE_S", default=5.0)

# --- Celery ---------------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(VAR_DIR / "broker/out"),
        "data_folder_out": str(VAR_DIR / "broker/out"),
        "processed_folder": str(VAR_DIR / "broker/processed"),
        "control_folder": str(VAR_DIR / "broker/control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    # After this long Redis hands an unacknowledged message out again: a dead worker's delayed retry comes
    # back, and a second delivery of a job still running is turned away by its live heartbeat.
    else {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- jobs -----------------------------------------------------------------------------------------
# Resource pools; each is a Celery queue of the same name that workers of that pool consume.
ECO_POOLS = env.list("ECO_POOLS", default=["cpu", "gpu"])
# A running job writes a heartbeat (and picks up cancel requests) this often.
ECO_HEARTBEAT_INTERVAL_S = env.float("ECO_HEARTBEAT_INTERVAL_S", default=2.0)
# A running job whose heartbeat is older than this is taken for dead and re-queued by the reaper.
ECO_HEARTBEAT_TIMEOUT_S = env.float("ECO_HEARTBEAT_TIMEOUT_S", default=60.0)
# How often the reaper (`manage.py reap_jobs --every N`, or the `jobs.reap` beat task) looks.
ECO_REAPER_INTERVAL_S = env.float("ECO_REAPER_INTERVAL_S", default=30.0)
# A transient failure is retried after this many seconds times the attempt number.
ECO_RETRY_BACKOFF_S = env.float("ECO_RETRY_BACKOFF_S", default=5.0)
# How often retrain triggers look for enough new feedback (the reaper process and the `triggers.check` task).
ECO_TRIGGER_INTERVAL_S = env.float("ECO_TRIGGER_INTERVAL_S", default=30.0)
# Worker jobs sample system metrics (CPU, memory; GPU with NVML) this often, as `system/...` points; 0 turns it off.
ECO_SYSTEM_METRICS_INTERVAL_S = env.float("ECO_SYSTEM_METRICS_INTERVAL_S", default=10.0)
# Test only: seconds the train loop sleeps after each logged step, so that a browser test watches a curve grow.
ECO_TRAIN_STEP_DELAY_S = env.float("ECO_TRAIN_STEP_DELAY_S", default=0.0)
CELERY_BEAT_SCHEDULE: dict = {
    "reap-stale-jobs": {"task": "jobs.reap", "schedule": ECO_REAPER_INTERVAL_S, "options": {"expires": 60}},
    "check-triggers": {"task": "triggers.check", "schedule": ECO_TRIGGER_INTERVAL_S, "options": {"expires": 60}},
}

# --- serving --------------------------------------------------------------------------------------
# `background`: a thread of each web process writes prediction logs in batches (flushed on clean shutdown);
# `inline`: the request writes them itself.
ECO_PREDICTION_LOG = env("ECO_PREDICTION_LOG", default="background")
ECO_PREDICTION_LOG_FLUSH_S = env.float("ECO_PREDICTION_LOG_FLUSH_S", default=0.2)
ECO_PREDICTION_LOG_MAX_PENDING = env.int("ECO_PREDICTION_LOG_MAX_PENDING", default=100_000)
# Most inputs one predict request may carry; model versions kept loaded per web process.
ECO_MAX_PREDICT_BATCH = env.int("ECO_MAX_PREDICT_BATCH", default=1024)
ECO_SERVING_CACHE_SIZE = env.int("ECO_SERVING_CACHE_SIZE", default=32)
# Threads one prediction may use (torch and ONNX Runtime); 1 suits many concurrent small requests.
ECO_SERVING_THREADS = env.int("ECO_SERVING_THREADS", default=1)

# --- cache (throttle counters, login failures) ------------------------------------------------------
# Shared by every process: Redis when CACHE_URL names it (production, compose, k8s), else files in var/cache
# (every process of one machine sees them). Never per-process memory: a limit each process counts alone is no limit.
CACHES = {
    "default": env.cache("CACHE_URL")
    if env("CACHE_URL", default="")
    else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
}

# --- sign-in limits (django-axes) -----------------------------------------------------------------------
# Failed sign-ins are counted per account and per client address on every path that checks a password (the
# API's token and session endpoints, the admin, the browsable API's login); past the limit both are refused
# (429) for the cool-off period.
# in the shared cache when that is Redis; else in the database (a file cache cannot count atomically)
AXES_HANDLER = (
    "axes.handlers.cache.AxesCacheHandler"
    if env("CACHE_URL", default="")
    else "axes.handlers.database.AxesDatabaseHandler"
)
AXES_FAILURE_LIMIT = env.int("ECO_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("ECO_LOGIN_COOLOFF_MIN", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one past the limit locks
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "accounts_app.client_ip.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts_app.client_ip.locked_out"
AXES_VERBOSE = False
# The addresses (or networks) of reverse proxies whose X-Forwarded-For is believed; from anyone else the
# header is ignored and the connection's address is the client's.
ECO_TRUSTED_PROXIES = env.list("ECO_TRUSTED_PROXIES", default=[])

# --- content security policy (django-csp) -----------------------------------------------------------
# Scripts only from this origin (the dashboard's bundles, the API docs' local assets); styles also inline,
# because Mantine and uPlot set style attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- security (production) ------------------------------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_AGE = int(timedelta(days=14).total_seconds())

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # axes logs every failed sign-in at INFO: its warnings (lock-outs) are what an operator needs
    "loggers": {"django.db.backends": {"level": "INFO"}, "axes": {"level": "WARNING"}},
}
