"""Greenlight settings: one module, driven by environment variables.

Every variable has a default that runs with no environment at all (SQLite, Celery over the
filesystem transport, media on local disk, console email, the local animatic provider).
Production differs only by environment; `.env.example` lists every variable.
"""

from __future__ import annotations

from pathlib import Path

import environ
from kombu import Queue

from config.mail import mailers_from_url

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("GREENLIGHT_VAR_DIR", default=str(BASE_DIR / "var")))
# Runtime state (SQLite file, broker queue, local media) lives here; make it on first use so
# a fresh clone runs `manage.py` without a set-up step.
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str(
    "SECRET_KEY", default="greenlight-insecure-development-key-change-me-in-production"
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Behind a TLS-terminating proxy: trust its X-Forwarded-Proto, send cookies over HTTPS only.
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
# Absolute links (emails, webhooks) start here; `make run` on another address
# (GREENLIGHT_ADDR=host:port) links to that address unless this is set.
GREENLIGHT_BASE_URL = env.str(
    "GREENLIGHT_BASE_URL",
    default=f"http://{env.str('GREENLIGHT_ADDR', default='127.0.0.1:8000')}",
).rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "generation",
    "assets",
    "review",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            "builtins": ["django_htmx.templatetags.django_htmx"],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker write to one file: WAL lets readers run beside a writer,
    # and IMMEDIATE transactions take the write lock at BEGIN, so two writers queue instead of
    # failing half way with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so that a worker process in the end-to-end tests sees the test data.
    DATABASES["default"]["TEST"] = {
        "NAME": env.str("GREENLIGHT_TEST_SQLITE", default=str(VAR_DIR / "test-db.sqlite3"))
    }
# Keep connections between requests on every engine: opening one costs a few milliseconds of
# CPU a request (for SQLite also the WAL pragmas above), more than a cheap page's own work.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- I18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Development and tests serve static files straight from the apps; production collects them.
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
ARCHIVE_ROOT = Path(env.str("ARCHIVE_ROOT", default=str(VAR_DIR / "archive")))

STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="local")
if STORAGE_BACKEND == "s3":
    _s3_options = {
        "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
        "region_name": env.str("AWS_S3_REGION_NAME", default=None),
        "access_key": env.str("AWS_ACCESS_KEY_ID", default=None),
        "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default=None),
        "querystring_auth": True,
        "querystring_expire": env.int("AWS_QUERYSTRING_EXPIRE", default=3600),
        "file_overwrite": False,
    }
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**_s3_options, "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME")},
        },
        "archive": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                **_s3_options,
                "bucket_name": env.str(
                    "AWS_ARCHIVE_BUCKET_NAME", default=env.str("AWS_STORAGE_BUCKET_NAME")
                ),
            },
        },
    }
elif STORAGE_BACKEND == "local":
    STORAGES = {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": MEDIA_ROOT},
        },
        "archive": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": ARCHIVE_ROOT},
        },
    }
else:
    raise environ.ImproperlyConfigured(
        f"STORAGE_BACKEND must be 'local' or 's3', not {STORAGE_BACKEND!r}"
    )
STORAGES["staticfiles"] = {
    "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
    if not DEBUG
    else "django.contrib.staticfiles.storage.StaticFilesStorage"
}
# Uploads up to this size stay in memory; larger ones spool to a temporary file.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Email ----------------------------------------------------------------------------------
# Django 6.1's MAILERS, filled from one URL: consolemail://, smtp://user:pass@host:25,
# smtp+tls://…:587, smtp+ssl://…:465, filemail:///path, memorymail://.
MAILERS = mailers_from_url(
    env.str("EMAIL_URL", default="consolemail://"),
    file_path=VAR_DIR / "mail",
    timeout=env.int("EMAIL_TIMEOUT", default=30),
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Greenlight <greenlight@localhost>")

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost//")
BROKER_DIR = Path(env.str("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's own filesystem transport can hand a consumer a half-written message.
    CELERY_BROKER_TRANSPORT = "config.broker:FilesystemTransport"
    for _folder in ("queue", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder for both directions: producers and consumers share the same queue files.
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # The transport finds new messages by listing the folder; at the default 1 s every
        # hop of a job waited up to a second for nothing. A listing costs microseconds.
        "polling_interval": env.float("CELERY_FILESYSTEM_POLLING_INTERVAL", default=0.05),
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fixup closes every database connection around every task unless this is
# set, so each task paid a new connection (on PostgreSQL a forked backend: ~6 ms, more than a
# job's queries). With it, the fixup recycles only every this-many tasks, and
# generation/tasks.py closes connections around each task as Django does around a request:
# past CONN_MAX_AGE, or unusable after an error.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
# One queue per kind of work, so a burst of one kind does not starve another when workers
# are split by queue (`celery -A config worker -Q providers`); a worker started without -Q
# consumes all of them. Reconcilers and anything unrouted use "celery".
CELERY_TASK_DEFAULT_QUEUE = "celery"
GREENLIGHT_QUEUES = ("celery", "providers", "media", "archive", "webhooks")
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in GREENLIGHT_QUEUES]
CELERY_TASK_ROUTES = {
    "generation.tasks.drive_job": {"queue": "providers"},
    "generation.tasks.cancel_remote": {"queue": "providers"},
    "assets.tasks.ingest_clip": {"queue": "media"},
    "assets.tasks.reanalyse_clip": {"queue": "media"},
    "review.tasks.archive_review": {"queue": "archive"},
}
# drive_job messages by their job's provider (generation.jobs.drive_queue, used by every
# sender): the cut joiner is ffmpeg work and runs on the media lane; every other provider's
# go where drive_job is routed above. The animatic renders inside submit too, but it stays on
# the provider lanes: it is the default provider and a launch's bulk, and the media worker
# has one process (see docs/ARCHITECTURE.md, Queues).
GREENLIGHT_DRIVE_QUEUES = {"sequence": "media"}
# (soft, hard) time limits in seconds per kind of task. Every inner timeout (an ffmpeg run,
# an HTTP call, a download's deadline) is shorter than the soft limit of the task running it.
GREENLIGHT_TASK_LIMITS = {
    "drive": (300, 360),
    "cancel": (30, 60),
    "ingest": (540, 600),
    "archive": (540, 600),
    "reconcile": (60, 90),
}
# The longest any message may wait in the broker: a countdown (at most the Retry-After cap or
# the poll ceiling) plus the hard time limit of the task it starts, with room to spare.
_LONGEST_HOLD = max(
    env.float("GREENLIGHT_RETRY_AFTER_CAP", default=300.0),
    env.float("GREENLIGHT_POLL_MAX", default=60.0),
) + max(hard for _soft, hard in GREENLIGHT_TASK_LIMITS.values())
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis re-delivers an unacknowledged message after the visibility timeout, even to a
    # live worker holding it for a countdown: keep it well above the longest hold.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(_LONGEST_HOLD * 2)}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
_RECONCILE_EVERY = env.float("GREENLIGHT_RECONCILE_EVERY", default=15.0)
CELERY_BEAT_SCHEDULE = {
    "reconcile-stale-jobs": {
        "task": "generation.tasks.reconcile_jobs",
        "schedule": _RECONCILE_EVERY,
    },
    "reconcile-stuck-clips": {
        "task": "assets.tasks.reconcile_clips",
        "schedule": _RECONCILE_EVERY,
    },
    "reconcile-unarchived-reviews": {
        "task": "review.tasks.reconcile_reviews",
        "schedule": _RECONCILE_EVERY,
    },
}

# --- Greenlight -----------------------------------------------------------------------------
GREENLIGHT_DEFAULT_PROVIDER = env.str("GREENLIGHT_DEFAULT_PROVIDER", default="animatic")
GREENLIGHT_PROVIDER_WORK_DIR = Path(
    env.str("GREENLIGHT_PROVIDER_WORK_DIR", default=str(VAR_DIR / "provider"))
)
# Seconds between status polls of a submitted job: at least the interval, at most the max,
# the provider's own hint in between.
GREENLIGHT_POLL_INTERVAL = env.float("GREENLIGHT_POLL_INTERVAL", default=2.0)
GREENLIGHT_POLL_MAX = env.float("GREENLIGHT_POLL_MAX", default=60.0)
GREENLIGHT_MAX_DOWNLOAD_BYTES = env.int("GREENLIGHT_MAX_DOWNLOAD_BYTES", default=2 * 1024**3)
# A download must finish inside this many seconds (below the drive task's soft limit).
GREENLIGHT_DOWNLOAD_DEADLINE = env.float("GREENLIGHT_DOWNLOAD_DEADLINE", default=240.0)

# --- Failure budgets (generation/leases.py, generation/jobs.py) ----------------------------
# A worker renews its lease on a job, ingest or archive every third of this while it works;
# a lease nobody renews expires, and the reconciler re-drives the work.
GREENLIGHT_LEASE_SECONDS = env.float("GREENLIGHT_LEASE_SECONDS", default=30.0)
# How late a scheduled message may be before the reconciler sends a replacement.
GREENLIGHT_REDRIVE_GRACE = env.float("GREENLIGHT_REDRIVE_GRACE", default=15.0)
# Re-drives (lost workers or messages) after which the work fails with a reason.
GREENLIGHT_MAX_REDRIVES = env.int("GREENLIGHT_MAX_REDRIVES", default=5)
# Transient errors (5xx, 429, timeouts) retried before a job fails.
GREENLIGHT_MAX_RETRIES = env.int("GREENLIGHT_MAX_RETRIES", default=8)
# Failed ingest or archive attempts before the clip or archive copy is given up.
GREENLIGHT_MAX_ATTEMPTS = env.int("GREENLIGHT_MAX_ATTEMPTS", default=4)
# First backoff in seconds (doubling, with jitter) after a transient error.
GREENLIGHT_BACKOFF_BASE = env.float("GREENLIGHT_BACKOFF_BASE", default=2.0)
# Seconds from creation after which unfinished work fails.
GREENLIGHT_JOB_DEADLINE = env.float("GREENLIGHT_JOB_DEADLINE", default=3 * 3600.0)
GREENLIGHT_INGEST_DEADLINE = env.float("GREENLIGHT_INGEST_DEADLINE", default=3600.0)
GREENLIGHT_ARCHIVE_DEADLINE = env.float("GREENLIGHT_ARCHIVE_DEADLINE", default=24 * 3600.0)
# Workers' temporary files; the reconciler removes what killed tasks left here.
GREENLIGHT_SCRATCH_DIR = Path(env.str("GREENLIGHT_SCRATCH_DIR", default=str(VAR_DIR / "scratch")))

# --- Briefs
# The most variants one brief may launch, and the most cells its full matrix may list.
GREENLIGHT_BRIEF_MAX_VARIANTS = env.int("GREENLIGHT_BRIEF_MAX_VARIANTS", default=100)
GREENLIGHT_BRIEF_MAX_CELLS = env.int("GREENLIGHT_BRIEF_MAX_CELLS", default=1000)
# Reference images: bytes of the upload, and pixels of the decoded picture (a decompression
# bomb is refused from its header, before it is decoded).
GREENLIGHT_REFERENCE_MAX_BYTES = env.int("GREENLIGHT_REFERENCE_MAX_BYTES", default=10 * 1024**2)
GREENLIGHT_REFERENCE_MAX_PIXELS = env.int("GREENLIGHT_REFERENCE_MAX_PIXELS", default=40_000_000)
GREENLIGHT_REFERENCE_MAX_SIDE = env.int("GREENLIGHT_REFERENCE_MAX_SIDE", default=8192)

# --- Providers ------------------------------------------------------------------------------
# Base URL of every hosted provider, so a deployment can route through a proxy and a test
# double can stand in for the real host.
GREENLIGHT_PROVIDER_URLS = {
    "fal": env.str("FAL_QUEUE_URL", default="https://queue.fal.run"),
    "fal_jwks": env.str("FAL_JWKS_URL", default="https://rest.alpha.fal.ai/.well-known/jwks.json"),
    "dashscope": env.str(
        "DASHSCOPE_BASE_URL", default="https://dashscope-intl.aliyuncs.com/api/v1"
    ),
    "replicate": env.str("REPLICATE_BASE_URL", default="https://api.replicate.com/v1"),
    "runway": env.str("RUNWAY_BASE_URL", default="https://api.dev.runwayml.com/v1"),
}
# Hosts whose result URLs may be plain http and resolve to loopback: only the test fakes.
GREENLIGHT_DOWNLOAD_TEST_HOSTS = env.list("GREENLIGHT_DOWNLOAD_TEST_HOSTS", default=[])
# The longest Retry-After Greenlight honours, in seconds; a longer ask waits this long.
GREENLIGHT_RETRY_AFTER_CAP = env.float("GREENLIGHT_RETRY_AFTER_CAP", default=300.0)

# --- Media analysis and playback
# The loudness window QC holds clips to (EBU R128 integrated, social default -14 LUFS ±2) and
# the highest true peak allowed; a campaign may carry its own window later.
GREENLIGHT_LOUDNESS_TARGET_LUFS = env.float("GREENLIGHT_LOUDNESS_TARGET_LUFS", default=-14.0)
GREENLIGHT_LOUDNESS_TOLERANCE_LU = env.float("GREENLIGHT_LOUDNESS_TOLERANCE_LU", default=2.0)
GREENLIGHT_TRUE_PEAK_MAX_DBTP = env.float("GREENLIGHT_TRUE_PEAK_MAX_DBTP", default=-1.0)
# Behind nginx, hand local media to it with X-Accel-Redirect: each value is the internal
# location that maps to that storage's folder (e.g. "/_protected/media/"); empty serves the
# bytes from the app (sendfile through wsgi.file_wrapper under gunicorn).
GREENLIGHT_ACCEL_REDIRECT = {
    "default": env.str("GREENLIGHT_MEDIA_ACCEL_REDIRECT", default=""),
    "archive": env.str("GREENLIGHT_ARCHIVE_ACCEL_REDIRECT", default=""),
}

# --- Review and email
# Seconds a digest gathers after the first notification of a burst; seconds before a stage's
# due time that undecided deciders are reminded; a failed email is retried this many seconds
# later, at most this many times.
GREENLIGHT_DIGEST_INTERVAL = env.int("GREENLIGHT_DIGEST_INTERVAL", default=300)
GREENLIGHT_REMINDER_BEFORE = env.int("GREENLIGHT_REMINDER_BEFORE", default=3600)
GREENLIGHT_EMAIL_RETRY_AFTER = env.int("GREENLIGHT_EMAIL_RETRY_AFTER", default=120)
GREENLIGHT_EMAIL_MAX_ATTEMPTS = env.int("GREENLIGHT_EMAIL_MAX_ATTEMPTS", default=8)
CELERY_BEAT_SCHEDULE = {
    **CELERY_BEAT_SCHEDULE,
    "remind-due-reviews": {
        "task": "review.tasks.remind_due_reviews",
        "schedule": _RECONCILE_EVERY,
    },
    "retry-notifications": {
        "task": "review.tasks.retry_notifications",
        "schedule": _RECONCILE_EVERY,
    },
}

# --- Hosted provider credentials and limits
# Credentials come from the environment only; an empty one shows the provider as "not
# configured" in the form and admin. They are never logged or shown.
FAL_KEY = env.str("FAL_KEY", default="")
DASHSCOPE_API_KEY = env.str("DASHSCOPE_API_KEY", default="")
REPLICATE_API_TOKEN = env.str("REPLICATE_API_TOKEN", default="")
# The `whsec_…` secret from GET /v1/webhooks/default/secret; without it Replicate webhooks are
# refused and jobs complete by polling.
REPLICATE_WEBHOOK_SECRET = env.str("REPLICATE_WEBHOOK_SECRET", default="")
# Pin Replicate models to versions: "owner/name=<version id>,…"; unpinned models use the
# model's own endpoint (its latest version).
REPLICATE_MODEL_VERSIONS = env.dict("REPLICATE_MODEL_VERSIONS", default={})
RUNWAYML_API_SECRET = env.str("RUNWAYML_API_SECRET", default="")
# Model Studio region: the model, the endpoint and the API key must all belong to it.
GREENLIGHT_DASHSCOPE_REGIONS = {
    "singapore": "https://dashscope-intl.aliyuncs.com/api/v1",
    "us": "https://dashscope-us.aliyuncs.com/api/v1",
    "beijing": "https://dashscope.aliyuncs.com/api/v1",
}
DASHSCOPE_REGION = env.str("DASHSCOPE_REGION", default="singapore").strip().lower()
if DASHSCOPE_REGION not in GREENLIGHT_DASHSCOPE_REGIONS:
    raise environ.ImproperlyConfigured(
        f"DASHSCOPE_REGION must be one of {', '.join(GREENLIGHT_DASHSCOPE_REGIONS)}, "
        f"not {DASHSCOPE_REGION!r}"
    )
# DASHSCOPE_BASE_URL (a proxy, a workspace domain or a test double) wins over the region.
GREENLIGHT_PROVIDER_URLS["dashscope"] = env.str(
    "DASHSCOPE_BASE_URL", default=GREENLIGHT_DASHSCOPE_REGIONS[DASHSCOPE_REGION]
)
# fal webhooks: the user id deliveries must carry (empty: any fal account's signature).
FAL_WEBHOOK_USER_ID = env.str("FAL_WEBHOOK_USER_ID", default="")
# Seconds a webhook timestamp may differ from now before the delivery is refused.
GREENLIGHT_WEBHOOK_TOLERANCE = env.int("GREENLIGHT_WEBHOOK_TOLERANCE", default=300)
# Webhook bodies larger than this are refused (413) before anything is parsed.
GREENLIGHT_WEBHOOK_MAX_BYTES = env.int("GREENLIGHT_WEBHOOK_MAX_BYTES", default=1024 * 1024)
# At most this many jobs of one provider should be in flight at once (submitted, not final), so
# a 500-variant brief does not flood one account; the job driver's submit step applies it.
GREENLIGHT_PROVIDER_CONCURRENCY = {
    "fal": env.int("FAL_CONCURRENCY", default=2),
    "dashscope": env.int("DASHSCOPE_CONCURRENCY", default=5),
    "replicate": env.int("REPLICATE_CONCURRENCY", default=10),
    "runway": env.int("RUNWAY_CONCURRENCY", default=2),
}
# Seconds between status polls per provider when it gives no hint (DashScope asks for 15).
GREENLIGHT_PROVIDER_POLL_S = {
    "fal": env.float("FAL_POLL_S", default=5.0),
    "dashscope": env.float("DASHSCOPE_POLL_S", default=15.0),
    "replicate": env.float("REPLICATE_POLL_S", default=5.0),
    "runway": env.float("RUNWAY_POLL_S", default=6.0),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
