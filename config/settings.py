"""Settings, read from the environment.

With no variable set the project runs on embedded defaults (SQLite, local media,
in-memory cache and channel layer, a file-system Celery broker). Each
integration switches on when its variable is set. README.md lists every variable.
"""

import ipaddress
import re
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django_guid.integrations import CeleryIntegration

from config.logging import UserIdReset

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

# development (default), test or production. Production refuses unsafe settings.
DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be development, test or production, not {DJANGO_ENV!r}")
IS_PRODUCTION = DJANGO_ENV == "production"

_INSECURE_KEY = "insecure-development-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=_INSECURE_KEY)
DEBUG = env.bool("DEBUG", default=DJANGO_ENV == "development")

if IS_PRODUCTION:
    if SECRET_KEY == _INSECURE_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("Production needs SECRET_KEY set to a random value of at least 32 characters.")
    if DEBUG:
        raise ImproperlyConfigured("Production refuses to start with DEBUG on.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Origins a browser websocket may come from. Native apps send no Origin header and are let through.
WS_ALLOWED_ORIGINS = env.list("WS_ALLOWED_ORIGINS", default=[] if IS_PRODUCTION else ["http://localhost:8000", "http://127.0.0.1:8000"])

INSTALLED_APPS = [
    "config.apps.AdminConfig",  # django.contrib.admin, with a rate-limited sign-in page
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "channels",
    "django_guid",
    "axes",
    # Staff second factor: TOTP devices, required by the admin when ADMIN_OTP_REQUIRED.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "accounts",
    "generation",
    "feed",
    "billing",
    "creators",
]

MIDDLEWARE = [
    # First, so the request id is on every record logged by what follows and on every response.
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body: too large a body is a 413, a NUL in the path or query a 4xx.
    "config.limits.RequestLimitsMiddleware",
    # Before anything reads a session: off its hosts and addresses the admin is a 404.
    "config.middleware.AdminAccessMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the second factor.
    "django_otp.middleware.OTPMiddleware",
    # After authentication: a session user's locale wins (API tokens: accounts.authentication).
    "accounts.i18n.LocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns the admin sign-in of a locked account into the lockout answer (accounts.lockout).
    "axes.middleware.AxesMiddleware",
    "config.middleware.SyncChainMiddleware",  # last: see its docstring
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],  # the admin's dashboard (templates/clipsocial_admin)
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

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default has the API, the worker and beat writing one file. A deferred
    # transaction that reads then writes fails at once ("database is locked") when another
    # process writes meanwhile; IMMEDIATE takes the write lock at BEGIN and waits up to
    # `timeout` for it, and WAL lets readers go on while one writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "transaction_mode": "IMMEDIATE", "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# psycopg's connection pool (PostgreSQL). Under ASGI every request runs in its own thread, so
# persistent connections (CONN_MAX_AGE) pile up until PostgreSQL refuses more; a pool per
# process reuses a few. On by default in production; 0 turns it off.
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=10 if IS_PRODUCTION else 0)
if DATABASE_POOL_MAX_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperlyConfigured("DATABASE_POOL_MAX_SIZE and DATABASE_CONN_MAX_AGE cannot both be set.")
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DATABASE_POOL_MAX_SIZE), "max_size": DATABASE_POOL_MAX_SIZE, "timeout": 10,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker, channel layer ---------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Fail fast when Redis is down instead of hanging a request (and /readyz) for minutes.
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=2.0)

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cache",
            "OPTIONS": {"socket_connect_timeout": REDIS_SOCKET_TIMEOUT, "socket_timeout": REDIS_SOCKET_TIMEOUT},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "ws"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # Per process: a socket server hears another process's events by tailing the event table
    # (accounts.events_tail), every EVENTS_TAIL_INTERVAL seconds.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Events (accounts.events) ---------------------------------------------------------
# How long events are kept for resume; an older `after` is a 410 events_expired.
EVENTS_RETENTION_SECONDS = env.int("EVENTS_RETENTION_SECONDS", default=7 * 24 * 3600)
EVENTS_PRUNE_INTERVAL = env.int("EVENTS_PRUNE_INTERVAL", default=3600)
# In-memory channel layer only: how often a socket server reads the event counters of its users.
EVENTS_TAIL_INTERVAL = env.float("EVENTS_TAIL_INTERVAL", default=0.25)

# --- Cameos (accounts.cameos) -----------------------------------------------------------
# The verification clip: bytes, seconds, pixels; the challenge's lifetime; the checker.
CAMEO_CLIP_MAX_BYTES = env.int("CAMEO_CLIP_MAX_BYTES", default=20 * 1024 * 1024)
CAMEO_CLIP_MIN_SECONDS = env.int("CAMEO_CLIP_MIN_SECONDS", default=2)
CAMEO_CLIP_MAX_SECONDS = env.int("CAMEO_CLIP_MAX_SECONDS", default=15)
CAMEO_CLIP_MAX_PIXELS = env.int("CAMEO_CLIP_MAX_PIXELS", default=1920 * 1080)
CAMEO_CHALLENGE_TTL_SECONDS = env.int("CAMEO_CHALLENGE_TTL_SECONDS", default=600)
CAMEO_VERIFIER = env.str("CAMEO_VERIFIER", default="offline")
if CAMEO_VERIFIER not in ("offline", "staff"):
    raise ImproperlyConfigured("CAMEO_VERIFIER must be offline or staff.")
CAMEO_PURGE_AFTER_DAYS = env.int("CAMEO_PURGE_AFTER_DAYS", default=30)
CAMEO_PURGE_INTERVAL = env.int("CAMEO_PURGE_INTERVAL", default=3600)
# Account deletion (accounts.deletion): days the owner may still cancel before the purge, days
# a purged account's handle stays reserved, seconds between beat runs of the purge.
ACCOUNT_DELETION_GRACE_DAYS = env.int("ACCOUNT_DELETION_GRACE_DAYS", default=14)
ACCOUNT_HANDLE_RESERVED_DAYS = env.int("ACCOUNT_HANDLE_RESERVED_DAYS", default=365)
ACCOUNT_PURGE_INTERVAL = env.int("ACCOUNT_PURGE_INTERVAL", default=3600)
# A re-authentication by Firebase ID token counts when the sign-in behind it is this recent.
ACCOUNT_REAUTH_MAX_AGE_SECONDS = env.int("ACCOUNT_REAUTH_MAX_AGE_SECONDS", default=300)

# --- Account export (accounts.exports) ---------------------------------------------
# At most one export a user per this many days (a failed one does not count); how long its
# download link works, and so how long its file is kept; seconds between beat sweeps (expired
# files deleted, lost build messages sent again).
ACCOUNT_EXPORT_MIN_INTERVAL_DAYS = env.int("ACCOUNT_EXPORT_MIN_INTERVAL_DAYS", default=7)
ACCOUNT_EXPORT_LINK_HOURS = env.int("ACCOUNT_EXPORT_LINK_HOURS", default=72)
ACCOUNT_EXPORT_SWEEP_INTERVAL = env.int("ACCOUNT_EXPORT_SWEEP_INTERVAL", default=3600)
if ACCOUNT_EXPORT_LINK_HOURS < 1 or ACCOUNT_EXPORT_MIN_INTERVAL_DAYS < 0:
    raise ImproperlyConfigured("ACCOUNT_EXPORT_LINK_HOURS must be at least 1, "
                               "ACCOUNT_EXPORT_MIN_INTERVAL_DAYS at least 0.")

# --- Celery ---------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=15 * 60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=CELERY_TASK_SOFT_TIME_LIMIT + 60)
# A message not acknowledged within this window is redelivered by Redis; it must
# outlast the longest task or a running render would be handed to a second worker.
CELERY_BROKER_VISIBILITY_TIMEOUT = env.int("CELERY_BROKER_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT * 2)
if CELERY_BROKER_VISIBILITY_TIMEOUT <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_BROKER_VISIBILITY_TIMEOUT must be longer than CELERY_TASK_TIME_LIMIT.")

# --- Storage --------------------------------------------------------------------
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_URL = "/static/"

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default=None)
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default=None)
    AWS_S3_CUSTOM_DOMAIN = env.str("AWS_S3_CUSTOM_DOMAIN", default=None)
    AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default=None)
    AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default=None)
    AWS_QUERYSTRING_EXPIRE = env.int("AWS_QUERYSTRING_EXPIRE", default=3600)
    AWS_DEFAULT_ACL = None
    AWS_S3_FILE_OVERWRITE = False
    DEFAULT_FILE_STORAGE_BACKEND = "storages.backends.s3.S3Storage"
else:
    # Local files whose .url() is a signed, expiring URL (config.media): the admin's file links
    # too. MEDIA_ROOT itself is served by no route in any mode.
    DEFAULT_FILE_STORAGE_BACKEND = "config.media.SignedFileSystemStorage"

STORAGES = {
    "default": {"BACKEND": DEFAULT_FILE_STORAGE_BACKEND},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Auth -----------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Youngest age allowed to sign up (COPPA / GDPR-K floor).
ACCOUNTS_MIN_AGE = env.int("ACCOUNTS_MIN_AGE", default=13)
# Teen protections (accounts.selectors.user_is_teen; under the market's teen_age): whether a
# teen may make a post public or open its remixes to everyone, and the daily feed time limit a
# teen gets by default and may only lower (minutes).
TEEN_PUBLIC_POSTS_ALLOWED = env.bool("TEEN_PUBLIC_POSTS_ALLOWED", default=False)
TEEN_DAILY_FEED_MINUTES = env.int("TEEN_DAILY_FEED_MINUTES", default=60)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_TOKEN_LIFETIME", default=15 * 60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_REFRESH_TOKEN_LIFETIME", default=30 * 24 * 3600)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "ALGORITHM": "HS256",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

# Firebase sign-in. FIREBASE_PROJECT_ID switches it on; FIREBASE_CREDENTIALS_FILE is a
# service-account JSON (optional where Application Default Credentials exist).
# FIREBASE_AUTH_EMULATOR_HOST (read by firebase-admin itself) accepts emulator tokens.
FIREBASE_PROJECT_ID = env.str("FIREBASE_PROJECT_ID", default="")
FIREBASE_CREDENTIALS_FILE = env.str("FIREBASE_CREDENTIALS_FILE", default="")
# FCM push goes out whenever FIREBASE_PROJECT_ID is set. FCM_ENDPOINT replaces
# https://fcm.googleapis.com (a local fake in tests and development); with it and no
# credentials file, requests carry no Google OAuth token.
FCM_ENDPOINT = env.str("FCM_ENDPOINT", default="")
# One FCM request may wait this long; a push task that hits it retries later (accounts.push).
FCM_TIMEOUT_SECONDS = env.float("FCM_TIMEOUT_SECONDS", default=10.0)

# --- Generation -----------------------------------------------------------------------
# preview (CPU, default), diffusers (local model, CUDA when present) or remote (hosted API).
GENERATION_BACKEND = env.str("GENERATION_BACKEND", default="preview")
GENERATION_FPS = env.int("GENERATION_FPS", default=24)
# diffusers: a local diffusers model folder (model_index.json inside); nothing is downloaded.
GENERATION_MODEL_DIR = env.str("GENERATION_MODEL_DIR", default="")
# Denoising steps; 0: the model family's recommended count (generation/backends/diffusers/profiles.py).
GENERATION_INFERENCE_STEPS = env.int("GENERATION_INFERENCE_STEPS", default=0)
# Where the model folder is not readable (API servers), the pipeline class whose profile submission checks.
GENERATION_MODEL_CLASS = env.str("GENERATION_MODEL_CLASS", default="")
# Per model folder, JSON {"<folder>": {"max_frames": 121, "native_fps": 16, ...}}: profile fields that override
# the family's defaults (sizes, frame rules, steps, guidance, negative prompt, call arguments).
GENERATION_MODEL_PROFILES = env.json("GENERATION_MODEL_PROFILES", default={})
# Weights placement on the GPU: none (all on the GPU), model / sequential (accelerate CPU offload, per
# component / per layer), group (diffusers group offload with CUDA streams).
GENERATION_OFFLOAD = env.str("GENERATION_OFFLOAD", default="none")
GENERATION_VAE_TILING = env.bool("GENERATION_VAE_TILING", default=False)
# dtype of the weights on CUDA (CPUs use float32), and per component, JSON {"vae": "float32"} (added to the
# profile's own, e.g. Wan's VAE in float32).
GENERATION_DTYPE = env.str("GENERATION_DTYPE", default="bfloat16")
GENERATION_COMPONENT_DTYPES = env.json("GENERATION_COMPONENT_DTYPES", default={})
# LoRA adapters, JSON [{"path": "...", "weight": 0.8, "name": "style", "weight_name": "x.safetensors"}] (needs peft).
GENERATION_LORAS = env.json("GENERATION_LORAS", default=[])
GENERATION_COMPILE = env.bool("GENERATION_COMPILE", default=False)
GENERATION_ATTENTION_BACKEND = env.str("GENERATION_ATTENTION_BACKEND", default="")
GENERATION_FLOW_SHIFT = env.float("GENERATION_FLOW_SHIFT", default=0.0)
# Seconds between heartbeats while a render is inside one long call (loading, VAE decode).
GENERATION_HEARTBEAT_INTERVAL = env.float("GENERATION_HEARTBEAT_INTERVAL", default=10.0)
# remote: a hosted video API shaped like /v1/videos (create, poll, download content).
GENERATION_REMOTE_URL = env.str("GENERATION_REMOTE_URL", default="")
GENERATION_REMOTE_API_KEY = env.str("GENERATION_REMOTE_API_KEY", default="")
GENERATION_REMOTE_MODEL = env.str("GENERATION_REMOTE_MODEL", default="sora-2")
GENERATION_REMOTE_TIMEOUT = env.float("GENERATION_REMOTE_TIMEOUT", default=30.0)
GENERATION_REMOTE_POLL_INTERVAL = env.float("GENERATION_REMOTE_POLL_INTERVAL", default=2.0)
GENERATION_REMOTE_MAX_WAIT = env.float("GENERATION_REMOTE_MAX_WAIT", default=600.0)
# runway: Runway's API through the runwayml SDK (URL unset: Runway's own).
GENERATION_RUNWAY_URL = env.str("GENERATION_RUNWAY_URL", default="")
GENERATION_RUNWAY_API_KEY = env.str("GENERATION_RUNWAY_API_KEY", default="")
GENERATION_RUNWAY_MODEL = env.str("GENERATION_RUNWAY_MODEL", default="gen4.5")
# veo: Veo on Vertex AI through google-genai: an API key (express mode), or a project with
# Application Default Credentials; the URL unset is Google's.
GENERATION_VEO_URL = env.str("GENERATION_VEO_URL", default="")
GENERATION_VEO_API_KEY = env.str("GENERATION_VEO_API_KEY", default="")
GENERATION_VEO_PROJECT = env.str("GENERATION_VEO_PROJECT", default="")
GENERATION_VEO_LOCATION = env.str("GENERATION_VEO_LOCATION", default="us-central1")
GENERATION_VEO_MODEL = env.str("GENERATION_VEO_MODEL", default="veo-3.1-generate-001")
# replicate: open models on Replicate through the replicate SDK (URL unset: Replicate's own).
GENERATION_REPLICATE_URL = env.str("GENERATION_REPLICATE_URL", default="")
GENERATION_REPLICATE_API_TOKEN = env.str("GENERATION_REPLICATE_API_TOKEN", default="")
GENERATION_REPLICATE_MODEL = env.str("GENERATION_REPLICATE_MODEL", default="wan-video/wan-2.5-t2v")
# Routing (generation.services.providers): JSON {kind or "*": {plan code or "*": [backend, fallback, ...]}};
# empty: every job goes to GENERATION_BACKEND.
GENERATION_ROUTES = env.json("GENERATION_ROUTES", default={})
# Circuit breaker per backend: this many transient failures within the window skip it for the cool-down.
GENERATION_BREAKER_FAILURES = env.int("GENERATION_BREAKER_FAILURES", default=5)
GENERATION_BREAKER_WINDOW = env.int("GENERATION_BREAKER_WINDOW", default=300)
GENERATION_BREAKER_COOLDOWN = env.int("GENERATION_BREAKER_COOLDOWN", default=600)
# A provider whose quota is spent is skipped this long (or until staff resolve its alert).
GENERATION_QUOTA_COOLDOWN = env.int("GENERATION_QUOTA_COOLDOWN", default=6 * 3600)
# Longest Retry-After a provider may make a job wait before its next try, seconds.
GENERATION_RETRY_AFTER_MAX = env.int("GENERATION_RETRY_AFTER_MAX", default=3600)
# What the providers charge us, USD per second of video, JSON {"backend/model": rate}; merged over the defaults.
GENERATION_PROVIDER_COSTS = env.json("GENERATION_PROVIDER_COSTS", default={})
# What one credit is worth to us in USD, for the admin's margin table.
GENERATION_CREDIT_VALUE_USD = env.float("GENERATION_CREDIT_VALUE_USD", default=0.01)

# Generation limits of the free tier (paid plans come from billing plans).
GENERATION_FREE_CONCURRENT_JOBS = env.int("GENERATION_FREE_CONCURRENT_JOBS", default=1)
GENERATION_FREE_MAX_DURATION = env.int("GENERATION_FREE_MAX_DURATION", default=12)
GENERATION_FREE_MAX_SHORT_SIDE = env.int("GENERATION_FREE_MAX_SHORT_SIDE", default=720)
GENERATION_FREE_MAX_QUEUED_JOBS = env.int("GENERATION_FREE_MAX_QUEUED_JOBS", default=5)
# Worker behaviour: a running job whose heartbeat is older than this is presumed dead.
GENERATION_HEARTBEAT_TIMEOUT = env.int("GENERATION_HEARTBEAT_TIMEOUT", default=120)
GENERATION_MAX_ATTEMPTS = env.int("GENERATION_MAX_ATTEMPTS", default=3)
GENERATION_MAX_TRANSIENT_RETRIES = env.int("GENERATION_MAX_TRANSIENT_RETRIES", default=5)
# A queued job whose task message is older than this gets a fresh one (messages can be lost).
GENERATION_REQUEUE_AFTER = env.int("GENERATION_REQUEUE_AFTER", default=600)
GENERATION_SWEEP_INTERVAL = env.int("GENERATION_SWEEP_INTERVAL", default=30)
# Fair share: GPU time a user used within this many seconds decides who goes next.
GENERATION_FAIR_SHARE_WINDOW = env.int("GENERATION_FAIR_SHARE_WINDOW", default=3600)
# Shedding: new submissions are refused (429 queue_busy) while the backlog, in minutes of GPU
# time per alive worker, is over these: free users first, then everyone (0: never).
GENERATION_SHED_FREE_AFTER_MINUTES = env.float("GENERATION_SHED_FREE_AFTER_MINUTES", default=30)
GENERATION_SHED_ALL_AFTER_MINUTES = env.float("GENERATION_SHED_ALL_AFTER_MINUTES", default=120)
# A queued job's owner gets a new ETA when its expected start moves by more than this (seconds).
GENERATION_ETA_UPDATE_SECONDS = env.int("GENERATION_ETA_UPDATE_SECONDS", default=15)
GENERATION_MAX_IMAGE_BYTES = env.int("GENERATION_MAX_IMAGE_BYTES", default=10 * 1024 * 1024)
GENERATION_MAX_IMAGE_PIXELS = env.int("GENERATION_MAX_IMAGE_PIXELS", default=40_000_000)
# Prompt policy: a dotted path to a class with check(); the default is rule-based.
GENERATION_PROMPT_POLICY = env.str("GENERATION_PROMPT_POLICY", default="generation.policy.RuleBasedPromptPolicy")
# Extra blocked terms per language, JSON: {"en": ["term", ...], "es": [...]}; added to the built-in list.
GENERATION_BLOCKED_TERMS = env.json("GENERATION_BLOCKED_TERMS", default={})

# --- Localisation jobs (POST /api/v1/localizations; generation.services.localization) ------
# An uploaded source clip: at most this many MB and seconds (H.264, checked by decoding it).
LOCALIZATION_MAX_UPLOAD_MB = env.int("LOCALIZATION_MAX_UPLOAD_MB", default=100)
LOCALIZATION_MAX_SECONDS = env.int("LOCALIZATION_MAX_SECONDS", default=180)
LOCALIZATION_MAX_SUBTITLES_BYTES = env.int("LOCALIZATION_MAX_SUBTITLES_BYTES", default=512 * 1024)
LOCALIZATION_MAX_LANGUAGES = env.int("LOCALIZATION_MAX_LANGUAGES", default=7)
# Glossary: at most this many terms, each side at most LOCALIZATION_GLOSSARY_TERM_MAX characters.
LOCALIZATION_GLOSSARY_MAX_TERMS = env.int("LOCALIZATION_GLOSSARY_MAX_TERMS", default=100)
LOCALIZATION_GLOSSARY_TERM_MAX = env.int("LOCALIZATION_GLOSSARY_TERM_MAX", default=100)
# Credits per started minute of video: per target language for each stage it asks for, and once
# per job for transcription (when no subtitles are given). billing.selectors.localization_price.
# The hosted speech stages ("hosted" for LOCALIZATION_TRANSCRIBER / LOCALIZATION_SYNTHESIZER): an
# OpenAI-compatible audio API (/v1/audio/transcriptions, /v1/audio/speech) at this base URL.
LOCALIZATION_HOSTED_URL = env.str("LOCALIZATION_HOSTED_URL", default="")
LOCALIZATION_HOSTED_API_KEY = env.str("LOCALIZATION_HOSTED_API_KEY", default="")
LOCALIZATION_HOSTED_STT_MODEL = env.str("LOCALIZATION_HOSTED_STT_MODEL", default="whisper-1")
LOCALIZATION_HOSTED_TTS_MODEL = env.str("LOCALIZATION_HOSTED_TTS_MODEL", default="tts-1")
LOCALIZATION_HOSTED_VOICE = env.str("LOCALIZATION_HOSTED_VOICE", default="alloy")
LOCALIZATION_HOSTED_TIMEOUT = env.float("LOCALIZATION_HOSTED_TIMEOUT", default=60.0)
LOCALIZATION_CREDITS_PER_MINUTE = env.json("LOCALIZATION_CREDITS_PER_MINUTE", default={
    "transcription": 2, "subtitles": 2, "dub": 6, "burn_in": 2})

# --- Provenance: signed C2PA manifests in every stored MP4 (generation.provenance) --------
# PEM files: the signing key, its certificate chain (leaf first), and the anchors a verify
# trusts. Unset outside production: a self-signed development CA and leaf are made once under
# PROVENANCE_DEV_DIR. PROVENANCE_REQUIRED (on in production) refuses to start without keys.
PROVENANCE_SIGNING_KEY = env.str("PROVENANCE_SIGNING_KEY", default="")
PROVENANCE_CERT_CHAIN = env.str("PROVENANCE_CERT_CHAIN", default="")
PROVENANCE_TRUST_ANCHORS = env.str("PROVENANCE_TRUST_ANCHORS", default="")
PROVENANCE_SIGNING_ALG = env.str("PROVENANCE_SIGNING_ALG", default="es256")
PROVENANCE_TSA_URL = env.str("PROVENANCE_TSA_URL", default="")  # an RFC 3161 timestamp authority, optional
PROVENANCE_REQUIRED = env.bool("PROVENANCE_REQUIRED", default=IS_PRODUCTION)
PROVENANCE_DEV_KEYS = env.bool("PROVENANCE_DEV_KEYS", default=not IS_PRODUCTION)
PROVENANCE_DEV_DIR = env.path("PROVENANCE_DEV_DIR", default=str(VAR_DIR / "provenance"))
PROVENANCE_CLAIM_GENERATOR = env.str("PROVENANCE_CLAIM_GENERATOR", default="clipsocial")
# Largest upload POST /api/v1/provenance/verify reads (413 upload_too_large above it).
PROVENANCE_VERIFY_MAX_BYTES = env.int("PROVENANCE_VERIFY_MAX_BYTES", default=200 * 1024 * 1024)
if PROVENANCE_REQUIRED and not (PROVENANCE_SIGNING_KEY and PROVENANCE_CERT_CHAIN):
    raise ImproperlyConfigured("PROVENANCE_REQUIRED: set PROVENANCE_SIGNING_KEY and PROVENANCE_CERT_CHAIN "
                               "(PEM files) so every stored video is signed.")
for _name, _pem in (("PROVENANCE_SIGNING_KEY", PROVENANCE_SIGNING_KEY), ("PROVENANCE_CERT_CHAIN", PROVENANCE_CERT_CHAIN),
                    ("PROVENANCE_TRUST_ANCHORS", PROVENANCE_TRUST_ANCHORS)):
    # A path with no file behind it would fail every render later; say so at startup.
    if _pem and not Path(_pem).is_file():
        raise ImproperlyConfigured(f"{_name}: no file at {_pem}.")

# --- Text translation (captions; subtitles later): generation.translation -----------------
# apertium: offline (Debian packages, a few pairs); remote: a LibreTranslate-style HTTP API; none: off.
TRANSLATION_BACKEND = env.str("TRANSLATION_BACKEND", default="apertium")
TRANSLATION_REMOTE_URL = env.str("TRANSLATION_REMOTE_URL", default="")
TRANSLATION_REMOTE_API_KEY = env.str("TRANSLATION_REMOTE_API_KEY", default="")
TRANSLATION_TIMEOUT = env.float("TRANSLATION_TIMEOUT", default=10.0)
TRANSLATION_APERTIUM_MODES_DIR = env.str("TRANSLATION_APERTIUM_MODES_DIR", default="/usr/share/apertium/modes")

# --- Video localisation stages (generation.localization): the speech stages, like the video backends.
# pocketsphinx: offline English speech recognition (its model ships in the wheel).
LOCALIZATION_TRANSCRIBER = env.str("LOCALIZATION_TRANSCRIBER", default="pocketsphinx")
# espeak: offline speech with Debian's espeak-ng (scripts/venv.sh installs it).
LOCALIZATION_SYNTHESIZER = env.str("LOCALIZATION_SYNTHESIZER", default="espeak")
# The font burnt-in subtitles are drawn with (.ttf/.otf/.ttc). Debian's DejaVu Sans (fonts-dejavu-core,
# scripts/venv.sh) covers Latin, Cyrillic, Greek and Arabic; set a Noto font for CJK or Devanagari.
# A language the font cannot draw fails with burn_in_unsupported.
LOCALIZATION_BURN_IN_FONT = env.str("LOCALIZATION_BURN_IN_FONT",
                                    default="/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# Names of real people that prompts may not depict without their consent (cameos), JSON list.
GENERATION_PROTECTED_NAMES = env.json("GENERATION_PROTECTED_NAMES", default=[])
# Lifetime of signed URLs for locally stored media (S3 uses AWS_QUERYSTRING_EXPIRE).
MEDIA_URL_EXPIRE = env.int("MEDIA_URL_EXPIRE", default=3600)

# --- Feed -------------------------------------------------------------------------------
# Reports hide a post until staff review it when their reporters' trust adds up to this (a
# reporter of full trust weighs 1; see feed/trust.py). Accounts younger than the minimum age
# weigh nothing; older ones grow to full trust at FULL_TRUST_DAYS. A verified email and each
# report staff upheld add their bonus, each report staff rejected takes the penalty;
# BLOCKS_HALVING blocks of the reporter by established accounts halve the weight (twice as
# many: a third); no report weighs more than MAX_WEIGHT.
FEED_REPORT_HIDE_THRESHOLD = env.float("FEED_REPORT_HIDE_THRESHOLD", default=5.0)
FEED_REPORT_MIN_ACCOUNT_AGE_DAYS = env.int("FEED_REPORT_MIN_ACCOUNT_AGE_DAYS", default=7)
FEED_REPORT_FULL_TRUST_DAYS = env.int("FEED_REPORT_FULL_TRUST_DAYS", default=30)
FEED_REPORT_VERIFIED_BONUS = env.float("FEED_REPORT_VERIFIED_BONUS", default=0.25)
FEED_REPORT_UPHELD_BONUS = env.float("FEED_REPORT_UPHELD_BONUS", default=0.25)
FEED_REPORT_REJECTED_PENALTY = env.float("FEED_REPORT_REJECTED_PENALTY", default=0.25)
FEED_REPORT_BLOCKS_HALVING = env.int("FEED_REPORT_BLOCKS_HALVING", default=10)
FEED_REPORT_MAX_WEIGHT = env.float("FEED_REPORT_MAX_WEIGHT", default=2.0)
# Distinct reporters (of any trust) since the last review that put a live post in the review queue.
FEED_REPORT_REVIEW_THRESHOLD = env.int("FEED_REPORT_REVIEW_THRESHOLD", default=3)
# Authors get at most one engagement event (likes, comments, remixes) per this many seconds.
FEED_ENGAGEMENT_BATCH_SECONDS = env.float("FEED_ENGAGEMENT_BATCH_SECONDS", default=2.0)
# Ranking: posts younger than this are ranked for for-you; trending looks at the last hours.
FEED_RANKING_WINDOW_DAYS = env.int("FEED_RANKING_WINDOW_DAYS", default=7)
FEED_TRENDING_HOURS = env.int("FEED_TRENDING_HOURS", default=48)
# Candidates re-ranked per viewer: best-scored public posts, plus recent posts of people followed.
FEED_CANDIDATES = env.int("FEED_CANDIDATES", default=500)
FEED_FOLLOWING_CANDIDATES = env.int("FEED_FOLLOWING_CANDIDATES", default=100)
# ... of which at most this many by one followed author (the newest).
FEED_FOLLOWING_PER_AUTHOR = env.int("FEED_FOLLOWING_PER_AUTHOR", default=5)
# Seconds an API process reuses the best-scored posts (the same for every viewer) before reading
# them again. Scores move only every FEED_SCORE_REFRESH_INTERVAL, and a post hidden meanwhile is
# still dropped when its page is read. 0 reads them on every first page (tests).
FEED_CANDIDATES_CACHE_SECONDS = env.float("FEED_CANDIDATES_CACHE_SECONDS",
                                          default=0 if DJANGO_ENV == "test" else 15)
# What a viewer saw within this many hours stays out of their for-you feed.
FEED_SEEN_HOURS = env.int("FEED_SEEN_HOURS", default=24)
FEED_MAX_PER_AUTHOR = env.int("FEED_MAX_PER_AUTHOR", default=2)
FEED_SCORE_REFRESH_INTERVAL = env.int("FEED_SCORE_REFRESH_INTERVAL", default=60)
# A refresh writes a post's score only when it moved by more than this fraction of itself.
FEED_SCORE_REFRESH_TOLERANCE = env.float("FEED_SCORE_REFRESH_TOLERANCE", default=0.02)
FEED_VIEWS_FLUSH_INTERVAL = env.int("FEED_VIEWS_FLUSH_INTERVAL", default=15)
# Where a share tracking link sends a visitor: the app's web page or deep link for the post.
SHARE_LANDING_URL = env.str("SHARE_LANDING_URL", default="https://example.com/p/{post_id}")
# Public base URL of this API, for the share links it hands out.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

# --- Email (accounts.emails: verification and password reset) ----------------------
# EMAIL_URL: smtp://user:password@host:587 (smtp+tls://, smtp+ssl:// too) or consolemail:// (prints).
vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25" if IS_PRODUCTION else "consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Clipsocial <no-reply@clipsocial.invalid>")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Where the links in account emails point: the app's universal / app links domain.
ACCOUNT_LINK_BASE_URL = env.str("ACCOUNT_LINK_BASE_URL", default=PUBLIC_BASE_URL)
# How long a password-reset or verification link works.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=2 * 3600)

# --- Credits -------------------------------------------------------------------------------
CREDITS_SIGNUP_GRANT = env.int("CREDITS_SIGNUP_GRANT", default=100)

# --- Billing (Stripe) ------------------------------------------------------------------
# STRIPE_SECRET_KEY switches billing on; without it the purchase endpoints answer 503
# billing_not_configured (credits and entitlements still work: everyone is on the free tier).
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Where the stripe library sends requests: Stripe's API unless a local fake (tests, development).
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_TIMEOUT = env.float("STRIPE_TIMEOUT", default=20.0)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
BILLING_CHECKOUT_SUCCESS_URL = env.str("BILLING_CHECKOUT_SUCCESS_URL", default="http://localhost:8000/billing/success")
BILLING_CHECKOUT_CANCEL_URL = env.str("BILLING_CHECKOUT_CANCEL_URL", default="http://localhost:8000/billing/cancel")
BILLING_PORTAL_RETURN_URL = env.str("BILLING_PORTAL_RETURN_URL", default="http://localhost:8000/billing/return")
# Stripe accepts 30 minutes to 24 hours; short keeps abandoned sessions from lingering.
BILLING_CHECKOUT_EXPIRE_MINUTES = env.int("BILLING_CHECKOUT_EXPIRE_MINUTES", default=60)
# Days a past-due subscriber keeps the paid plan, counted from the start of the unpaid period.
BILLING_GRACE_DAYS = env.int("BILLING_GRACE_DAYS", default=7)
# Prices differ by market: the user's country picks the currency; other countries pay the default.
BILLING_DEFAULT_CURRENCY = env.str("BILLING_DEFAULT_CURRENCY", default="usd").lower()
_EURO_COUNTRIES = ("AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT", "LU", "LV", "MT",
                   "NL", "PT", "SI", "SK")
BILLING_COUNTRY_CURRENCIES = env.json("BILLING_COUNTRY_CURRENCIES", default={
    **{c: "eur" for c in _EURO_COUNTRIES},
    "GB": "gbp", "JP": "jpy", "IN": "inr", "BR": "brl", "MX": "mxn", "CA": "cad", "AU": "aud", "KR": "krw",
    "ID": "idr", "TR": "try",
})
# Generations a free user may start a day (plans set their own; 0: no limit).
GENERATION_FREE_DAILY_QUOTA = env.int("GENERATION_FREE_DAILY_QUOTA", default=30)

# --- Billing (App Store) -----------------------------------------------------------------
# APPLE_BUNDLE_ID switches the App Store on. Root certificates: paths (DER or PEM), comma-separated.
APPLE_BUNDLE_ID = env.str("APPLE_BUNDLE_ID", default="")
APPLE_APP_APPLE_ID = env.int("APPLE_APP_APPLE_ID", default=0)  # required when the environment is Production
APPLE_ENVIRONMENT = env.str("APPLE_ENVIRONMENT", default="Production")  # Production or Sandbox
APPLE_ROOT_CERTIFICATES = env.list("APPLE_ROOT_CERTIFICATES", default=[])
# OCSP revocation checks of the chain (outbound calls to Apple on each new chain).
APPLE_ONLINE_CHECKS = env.bool("APPLE_ONLINE_CHECKS", default=False)

# --- Billing (Google Play) ---------------------------------------------------------------
# GOOGLE_PLAY_PACKAGE_NAME switches Google Play on.
GOOGLE_PLAY_PACKAGE_NAME = env.str("GOOGLE_PLAY_PACKAGE_NAME", default="")
GOOGLE_PLAY_SERVICE_ACCOUNT_FILE = env.str("GOOGLE_PLAY_SERVICE_ACCOUNT_FILE", default="")
# Where the Play Developer API is reached: Google's unless a local fake (tests, development).
GOOGLE_PLAY_API_URL = env.str("GOOGLE_PLAY_API_URL", default="")
# The Pub/Sub push subscription's OIDC token: its audience and the service account that signs it.
GOOGLE_PUBSUB_AUDIENCE = env.str("GOOGLE_PUBSUB_AUDIENCE", default="")
GOOGLE_PUBSUB_SERVICE_ACCOUNT = env.str("GOOGLE_PUBSUB_SERVICE_ACCOUNT", default="")
GOOGLE_PUBSUB_CERTS_URL = env.str("GOOGLE_PUBSUB_CERTS_URL", default="https://www.googleapis.com/oauth2/v1/certs")

# Seconds between sweeps that close expired plan credits (reads and ledger writes also do it lazily).
BILLING_EXPIRE_INTERVAL = env.int("BILLING_EXPIRE_INTERVAL", default=300)

# --- Creators (campaigns, rewards, payouts) ----------------------------------------------
# Engagement from accounts younger than this (when they engaged) does not count toward milestones.
CREATORS_MIN_ACCOUNT_AGE_DAYS = env.int("CREATORS_MIN_ACCOUNT_AGE_DAYS", default=7)
# A spike: a gain of at least the metric's minimum since the last evaluation, arriving more than
# FACTOR times faster than the post's rate before. It flags the submission for review.
CREATORS_SPIKE_FACTOR = env.float("CREATORS_SPIKE_FACTOR", default=10.0)
CREATORS_SPIKE_MIN_GAIN = {
    "views": 5000, "likes": 300, "remixes": 50, "share_clicks": 300,
    **env.json("CREATORS_SPIKE_MIN_GAIN", default={}),
}
# Seconds between milestone evaluations (Celery beat) and between runs paying due cash balances.
CREATORS_EVALUATE_INTERVAL = env.int("CREATORS_EVALUATE_INTERVAL", default=300)
CREATORS_PAYOUT_INTERVAL = env.int("CREATORS_PAYOUT_INTERVAL", default=86400)
# Smallest cash balance (minor units) paid out by transfer; smaller ones wait for more rewards.
CREATORS_MIN_PAYOUT = env.int("CREATORS_MIN_PAYOUT", default=1000)
CREATORS_MAX_SUBMISSIONS = env.int("CREATORS_MAX_SUBMISSIONS", default=10)
# Followers from which the rules give a tier (staff may set any tier by hand).
CREATORS_TIER_FOLLOWERS = env.json("CREATORS_TIER_FOLLOWERS", default={"rising": 1000, "pro": 10000,
                                                                        "elite": 100000})
# Where Stripe's Connect onboarding sends the creator back (refresh: the link expired; return: done).
STRIPE_CONNECT_REFRESH_URL = env.str("STRIPE_CONNECT_REFRESH_URL", default="http://localhost:8000/creators/connect/refresh")
STRIPE_CONNECT_RETURN_URL = env.str("STRIPE_CONNECT_RETURN_URL", default="http://localhost:8000/creators/connect/return")

# --- Client address, rate limits, sign-in lockout ----------------------------------------
# Proxies in front of the API (load balancers, a CDN) that each append the address they saw to
# X-Forwarded-For. config.http.client_ip, which every throttle, lockout and visitor count keys on,
# takes the entry the outermost one appended; with 0 it ignores the header and uses the socket's
# address. A wrong number either trusts a header any client can forge or counts every client as
# the load balancer, so production makes the deployment say (0 is a valid answer).
if IS_PRODUCTION and "NUM_PROXIES" not in env:
    raise ImproperlyConfigured("Production needs NUM_PROXIES: the number of proxies in front of the API "
                               "that append to X-Forwarded-For (0 when clients connect directly).")
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
if NUM_PROXIES < 0:
    raise ImproperlyConfigured("NUM_PROXIES cannot be negative.")

# "N/period", period s, min, hour or day (config/throttling.py). auth, auth_refresh, admin_login:
# per client IP (auth per account where one is signed in). The actions: per account, and per
# client IP (_ip), on writes only; per-IP limits are looser: many phones share a carrier's address.
THROTTLE_RATES = {
    "auth": env.str("THROTTLE_AUTH_RATE", default="10/min"),
    "auth_refresh": env.str("THROTTLE_AUTH_REFRESH_RATE", default="60/min"),
    "admin_login": env.str("THROTTLE_ADMIN_LOGIN_RATE", default="10/min"),
    "signups_ip": env.str("THROTTLE_SIGNUPS_IP_RATE", default="5/hour"),
    "likes": env.str("THROTTLE_LIKES_RATE", default="120/min"),
    "likes_ip": env.str("THROTTLE_LIKES_IP_RATE", default="1200/min"),
    "comments": env.str("THROTTLE_COMMENTS_RATE", default="20/min"),
    "comments_ip": env.str("THROTTLE_COMMENTS_IP_RATE", default="200/min"),
    "follows": env.str("THROTTLE_FOLLOWS_RATE", default="60/min"),
    "follows_ip": env.str("THROTTLE_FOLLOWS_IP_RATE", default="600/min"),
    "reports": env.str("THROTTLE_REPORTS_RATE", default="20/hour"),
    "reports_ip": env.str("THROTTLE_REPORTS_IP_RATE", default="200/hour"),
    "generations": env.str("THROTTLE_GENERATIONS_RATE", default="30/hour"),
    "generations_ip": env.str("THROTTLE_GENERATIONS_IP_RATE", default="300/hour"),
    "provenance_verify": env.str("THROTTLE_PROVENANCE_VERIFY_RATE", default="30/hour"),
    "provenance_verify_ip": env.str("THROTTLE_PROVENANCE_VERIFY_IP_RATE", default="120/hour"),
    # Account emails (verification resend, email change; password reset requests per IP).
    "account_emails": env.str("THROTTLE_ACCOUNT_EMAILS_RATE", default="5/hour"),
    "account_emails_ip": env.str("THROTTLE_ACCOUNT_EMAILS_IP_RATE", default="20/hour"),
}

# Sign-in lockout (django-axes), per account: this many failed password sign-ins (API or admin,
# from any number of addresses) lock the account for the cool-off, its right password included.
# Staff unlock early in the admin (Users: "Unlock sign-in", or Axes' access attempts).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked account before any password check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("ACCOUNTS_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("ACCOUNTS_LOGIN_LOCKOUT_SECONDS", default=15 * 60))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
AXES_CLIENT_IP_CALLABLE = "config.http.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# Tries during a lock are not counted and do not extend it: it ends when Retry-After said.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
# No row per successful sign-in (the app signs in millions); failed attempts are still kept.
AXES_DISABLE_ACCESS_LOG = True
# Axes' log lines name only the account (masked) and the path, not every request attribute.
AXES_VERBOSE = False
# axes.W006 asks to lock by IP as well. Failures are summed per account over every address and
# user agent, and the per-IP limit is the `auth` / `admin_login` throttles: an IP lockout would
# lock out every phone behind a carrier's shared address.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# --- Request limits (config/limits.py, config/parsers.py) ------------------------------
# Largest request body, in bytes, unless REQUEST_BODY_LIMITS allows a route more: a larger
# Content-Length is a 413 before the body is read; a chunked body is cut off when it passes.
REQUEST_BODY_MAX_BYTES = env.int("REQUEST_BODY_MAX_BYTES", default=64 * 1024)
# Deepest nesting of arrays and objects a JSON body may have (deeper: 400 json_too_deep).
REQUEST_JSON_MAX_DEPTH = env.int("REQUEST_JSON_MAX_DEPTH", default=64)
# Avatars: bytes of the file and decoded pixels (width x height) of the image in it.
ACCOUNTS_AVATAR_MAX_BYTES = env.int("ACCOUNTS_AVATAR_MAX_BYTES", default=5 * 1024 * 1024)
ACCOUNTS_AVATAR_MAX_PIXELS = env.int("ACCOUNTS_AVATAR_MAX_PIXELS", default=4096 * 4096)
STRIPE_WEBHOOK_MAX_BYTES = env.int("STRIPE_WEBHOOK_MAX_BYTES", default=1024 * 1024)
ADMIN_REQUEST_MAX_BYTES = env.int("ADMIN_REQUEST_MAX_BYTES", default=10 * 1024 * 1024)
# Routes (URL names, or "namespace:*") that take larger bodies, by content type ("*": any). An
# upload may be its file's own limit plus the default for the other fields.
REQUEST_BODY_LIMITS = {
    "me": {"multipart/form-data": ACCOUNTS_AVATAR_MAX_BYTES + REQUEST_BODY_MAX_BYTES},
    "generations": {"multipart/form-data": GENERATION_MAX_IMAGE_BYTES + REQUEST_BODY_MAX_BYTES},
    "localizations": {"multipart/form-data": LOCALIZATION_MAX_UPLOAD_MB * 1024 * 1024
                      + LOCALIZATION_MAX_SUBTITLES_BYTES + REQUEST_BODY_MAX_BYTES},
    "cameos": {"multipart/form-data": CAMEO_CLIP_MAX_BYTES + REQUEST_BODY_MAX_BYTES},
    "provenance-verify": {"multipart/form-data": PROVENANCE_VERIFY_MAX_BYTES + REQUEST_BODY_MAX_BYTES},
    "billing-stripe-webhook": {"*": STRIPE_WEBHOOK_MAX_BYTES},
    "admin:*": {"*": ADMIN_REQUEST_MAX_BYTES},
}
# Stripe webhook calls that fail before a valid signature (unsigned, forged, stale, or while
# billing is off) leave an audit row (WebhookAttempt) only up to this many a minute; the rest
# are only logged and counted.
BILLING_WEBHOOK_REJECTED_AUDIT_PER_MINUTE = env.int("BILLING_WEBHOOK_REJECTED_AUDIT_PER_MINUTE", default=20)

# --- REST framework ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        # DRF's, refusing deep JSON and NUL characters (config/parsers.py).
        "config.parsers.JSONParser",
        "config.parsers.MultiPartParser",
        "config.parsers.FormParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": None,
    "DEFAULT_THROTTLE_RATES": THROTTLE_RATES,
    # Our throttles key on config.http.client_ip; any plain DRF one would read the same proxies.
    "NUM_PROXIES": NUM_PROXIES,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "Clipsocial API",
    "DESCRIPTION": "Backend of the AI video social app: accounts, generation, feed, billing, creators.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI served from our own static files: the docs page works without a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # config.converters: ids in paths are documented as what clients send (other text is a 404).
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "format": "int64", "minimum": 1,
                                        "maximum": 2**63 - 1},
                                 "uuid_id": {"type": "string", "format": "uuid"}},
}

# --- Security (production) -----------------------------------------------------------
if IS_PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # HSTS: once a browser saw the header it refuses plain HTTP to this host (and, with
    # INCLUDE_SUBDOMAINS, its subdomains) for SECONDS. The defaults are what `check --deploy`
    # asks for; PRELOAD only adds the flag, joining the browsers' preload list is a separate
    # (slow to undo) submission. Lower SECONDS while trying HTTPS on a new domain.
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Admin and API docs exposure ---------------------------------------------------------
# The admin's path, hosts and client addresses. On another host, or from an address outside
# ADMIN_ALLOWED_IPS (CIDR ranges; empty: any), every admin URL answers 404 like an unknown path
# (config.middleware.AdminAccessMiddleware). ADMIN_HOSTS must also be in ALLOWED_HOSTS.
ADMIN_URL_PREFIX = env.str("ADMIN_URL_PREFIX", default="admin/").strip("/") + "/"
if not re.fullmatch(r"([A-Za-z0-9._~-]+/)+", ADMIN_URL_PREFIX) or ADMIN_URL_PREFIX.split("/")[0] in {
        "api", "s", "static", "media", "healthz", "readyz", "ws"}:
    raise ImproperlyConfigured(f"ADMIN_URL_PREFIX {ADMIN_URL_PREFIX!r}: use path segments of letters, digits and "
                               "._~- that no other route starts with.")
ADMIN_HOSTS = [host.lower() for host in env.list("ADMIN_HOSTS", default=[])]
ADMIN_ALLOWED_IPS = env.list("ADMIN_ALLOWED_IPS", default=[])
for _cidr in ADMIN_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_cidr, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(f"ADMIN_ALLOWED_IPS: {exc}") from exc
# The OpenAPI schema and Swagger UI (/api/schema/, /api/docs/): a map of every endpoint for
# whoever asks, so off in production unless turned on.
API_DOCS_ENABLED = env.bool("API_DOCS_ENABLED", default=not IS_PRODUCTION)
# Staff sign in to the admin with a password and a TOTP code (django-otp); on in production.
# A staff account gets its authenticator with `manage.py staff_totp <email>`.
ADMIN_OTP_REQUIRED = env.bool("ADMIN_OTP_REQUIRED", default=IS_PRODUCTION)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Clipsocial admin")

# --- i18n ---------------------------------------------------------------------------
# Adding a language: its code here and a catalog under config/locale (README, Languages).
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("es", "Español"),
    ("pt-br", "Português (Brasil)"),
    ("hi", "हिन्दी"),
    ("id", "Bahasa Indonesia"),
    ("ja", "日本語"),
    ("zh-hans", "简体中文"),
    ("ar", "العربية"),
]
LANGUAGES_BIDI = ["ar", "fa", "he", "ur"]
# One catalog for the whole project (every app's messages), next to the settings.
LOCALE_PATHS = [BASE_DIR / "config" / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging -------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# json: one JSON object a line, for log collectors (production default); plain: for people.
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if IS_PRODUCTION else "plain")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "django_guid.log_filters.CorrelationId", "correlation_id_field": "request_id"},
        "user_id": {"()": "config.logging.UserIdFilter"},
    },
    "formatters": {
        "plain": {"()": "config.logging.PlainFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            # Listed fields are on every line, null while unknown; `extra` fields follow them.
            "fmt": ["levelname", "name", "message", "request_id", "user_id"],
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id", "user_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # django-guid narrates every request and task at INFO; its warnings (a malformed id) stay.
    "loggers": {"django_guid": {"level": "WARNING"}},
}

# Request ids (django-guid): a valid UUID in X-Request-ID is kept (a proxy or the app may set it),
# anything else is replaced by a new one; the response carries it back, and the Celery tasks a
# request enqueues carry it in a message header, so the worker's lines about that task have it too.
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,
    "RETURN_HEADER": True,
    # The API has no CORS set-up, and this would overwrite the header a CORS middleware sets.
    "EXPOSE_HEADER": False,
    # use_django_logging: the worker logs through LOGGING above (with the request id), not Celery's own.
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True), UserIdReset()],
}
