"""Stone Age settings, read from the environment (django-environ), strict about what production needs."""

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from stoneage import logs

BASE_DIR = Path(__file__).resolve().parent.parent


class StrictEnv(environ.Env):
    """django-environ, but a malformed value stops the start with a message naming the variable: a typo in a
    boolean is not silently false, and a bad number is not an anonymous ValueError."""

    BOOLEAN_FALSE_STRINGS = ("false", "off", "no", "n", "0", "")

    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        raw = self.ENVIRON.get(var)
        booleans = (*self.BOOLEAN_TRUE_STRINGS, *self.BOOLEAN_FALSE_STRINGS)
        if cast is bool and raw is not None and raw.strip().lower() not in booleans:
            raise ImproperlyConfigured(f"{var} must be true or false (also yes/no, on/off, 1/0); got {raw!r}.")
        try:
            if cast is float and raw is not None:
                return float(raw)  # environ would drop any non-digit: "5m" read as 5.0
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"{var} has an invalid value {raw!r}: {exc}") from exc


env = StrictEnv()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(env_file)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off.")
    SECRET_KEY = "dev-insecure-" + "x" * 50  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "stoneage.apps.StoneAgeAdminConfig",  # Django's admin with the Stone Age site (stoneage/admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "audit",
    "tenancy",
    "inventory",
    "credentials",
]

MIDDLEWARE = [
    "stoneage.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

if not DEBUG:
    # Static files from the web process itself in production (collectstatic output: hashed names, compressed,
    # cached for long); Caddy may serve STATIC_ROOT directly in front of it.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "stoneage.urls"

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
        },
    },
]

WSGI_APPLICATION = "stoneage.wsgi.application"
ASGI_APPLICATION = "stoneage.asgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the Celery worker write concurrently: BEGIN IMMEDIATE takes the write lock up front,
    # so a transaction waits (up to `timeout` seconds) instead of failing with "database is locked" on upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=20, transaction_mode="IMMEDIATE")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Uploaded files (floorplan images). Never served as public media: the admin and the API serve each file after
# checking the viewer's membership.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
#: Where `POST /api/v1/platform/backups/` writes its archives. They hold sealed secrets: keep the directory
#: private to the service, and the keys (STONEAGE_SECRET_KEYS, STONEAGE_AUDIT_KEYS) elsewhere.
BACKUP_ROOT = env.path("BACKUP_ROOT", default=BASE_DIR / "backups")
FLOORPLAN_MAX_BYTES = env.int("FLOORPLAN_MAX_BYTES", default=10 * 1024 * 1024)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"
AUTHENTICATION_BACKENDS = ["tenancy.signin.ThrottledModelBackend"]
#: Failed sign-ins of one username (or, for LOGIN_FAILURE_IP_LIMIT, from one client address) within
#: LOGIN_FAILURE_WINDOW seconds that pause its sign-in for LOGIN_LOCKOUT seconds.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_IP_LIMIT = env.int("LOGIN_FAILURE_IP_LIMIT", default=20)
LOGIN_FAILURE_WINDOW = env.int("LOGIN_FAILURE_WINDOW", default=900)
LOGIN_LOCKOUT = env.int("LOGIN_LOCKOUT", default=900)
#: Seconds a password reset link stays valid.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 3600)

# --- Redis, Celery, Channels -------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

# Shared by every web process (sign-in throttling counts here).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str("CACHE_URL", default=REDIS_URL),
        "KEY_PREFIX": "stoneage",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# A request must never hang on a down broker: queueing gives up quickly and the beat catches up later.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 0, "socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers log through LOGGING (JSON lines with the request id of the change that queued the task), not Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    # Re-pushes any NATS account whose newest JWT is not yet on the servers (down broker, down NATS, lost task).
    "nats-push-pending": {
        "task": "credentials.tasks.nats.push_pending",
        "schedule": env.float("NATS_PUSH_PENDING_INTERVAL", default=30.0),
    },
    # Deactivates the NATS users of people deactivated in bulk and follows organizations (de)activated in bulk:
    # `QuerySet.update()` sends no signal.
    "nats-reconcile-switched-off": {
        "task": "credentials.tasks.nats.reconcile_switched_off",
        "schedule": env.float("NATS_RECONCILE_INTERVAL", default=300.0),
    },
    # Nebula: renew host certificates with <= 20 % of their lifetime left; warn about CAs expiring within 90 days.
    "nebula-renew-hosts": {"task": "credentials.tasks.nebula.renew_due_hosts", "schedule": crontab(hour=3, minute=0)},
    "nebula-ca-expiry": {"task": "credentials.tasks.nebula.warn_expiring_cas", "schedule": crontab(hour=3, minute=30)},
    # NATS: renew the user JWTs near their expiry; drop revocations of JWTs that have all expired.
    "nats-renew-user-jwts": {"task": "credentials.tasks.nats.renew_user_jwts", "schedule": crontab(minute=20)},
    # Commands: replies of things that pulled their queued commands, expiry, and sends a lost task left waiting.
    "commands-sweep": {
        "task": "inventory.tasks.sweep_commands",
        "schedule": env.float("COMMAND_SWEEP_INTERVAL", default=2.0),
    },
    "nats-prune-revocations": {
        "task": "credentials.tasks.nats.prune_revocations",
        "schedule": crontab(hour=4, minute=10),
    },
}
CELERY_IMPORTS = ["credentials.tasks"]

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}

# --- NATS ------------------------------------------------------------------------------------------------
NATS_URL = env.str("NATS_URL", default="nats://127.0.0.1:4223")
# Where leaf nodes reach the hub's leafnode port; the overlay URLs (the hub's Nebula address) serve leaves that have
# a Nebula host, when set.
HUB_LEAF_URLS = env.list("HUB_LEAF_URLS", default=["nats-leaf://127.0.0.1:7422"])
HUB_LEAF_OVERLAY_URLS = env.list("HUB_LEAF_OVERLAY_URLS", default=[])
# Seconds a thing's MQTT password (a bearer JWT for MQTT connections only) is valid.
MQTT_JWT_LIFETIME = env.int("MQTT_JWT_LIFETIME", default=3600)
NATS_OPERATOR_NAME = env.str("NATS_OPERATOR_NAME", default="stone-age")
NATS_REQUEST_TIMEOUT = env.float("NATS_REQUEST_TIMEOUT", default=5.0)
# The live twin: how long the API waits for NATS (then 503), and how recent a reported value keeps a thing online.
TWIN_NATS_TIMEOUT = env.float("TWIN_NATS_TIMEOUT", default=2.0)
TWIN_ONLINE_SECONDS = env.int("TWIN_ONLINE_SECONDS", default=60)

# Commands to things (inventory.services.commands): how long a thing has to answer, the longest TTL an operation may
# give a command waiting for its offline thing, and how long a command without TTL may wait for a worker.
COMMAND_REPLY_TIMEOUT = env.float("COMMAND_REPLY_TIMEOUT", default=5.0)
COMMAND_MAX_TTL = env.int("COMMAND_MAX_TTL", default=7 * 24 * 3600)
COMMAND_DISPATCH_DEADLINE = env.int("COMMAND_DISPATCH_DEADLINE", default=30)
#: Limits of a new organization's account (-1 = unlimited; JetStream sizes in bytes, 0 = JetStream off).
NATS_DEFAULT_ACCOUNT_LIMITS = {
    "max_connections": env.int("NATS_DEFAULT_MAX_CONNECTIONS", default=1000),
    "max_leaf_nodes": env.int("NATS_DEFAULT_MAX_LEAF_NODES", default=-1),
    "max_subscriptions": env.int("NATS_DEFAULT_MAX_SUBSCRIPTIONS", default=10000),
    "max_data": env.int("NATS_DEFAULT_MAX_DATA", default=-1),
    "max_payload": env.int("NATS_DEFAULT_MAX_PAYLOAD", default=1024 * 1024),
    "max_jetstream_disk": env.int("NATS_DEFAULT_JETSTREAM_DISK", default=1024**3),
    "max_jetstream_memory": env.int("NATS_DEFAULT_JETSTREAM_MEMORY", default=64 * 1024**2),
    "max_streams": env.int("NATS_DEFAULT_MAX_STREAMS", default=-1),
    "max_consumers": env.int("NATS_DEFAULT_MAX_CONSUMERS", default=-1),
}

#: Seconds a user JWT is valid, per owner kind (0 = no expiry: only on purpose, since the revocation of a JWT
#: that never expires stays in the account JWT forever, and that JWT must stay under nats-server's
#: max_payload). Every `.creds` download carries a new JWT; devices download theirs again before it expires,
#: and the platform's own users are renewed by the beat.
NATS_USER_JWT_LIFETIME = {
    "thing": env.int("NATS_DEVICE_JWT_LIFETIME", default=365 * 24 * 3600),
    "leaf_node": env.int("NATS_DEVICE_JWT_LIFETIME", default=365 * 24 * 3600),
    "membership": env.int("NATS_PERSON_JWT_LIFETIME", default=30 * 24 * 3600),
    "service": env.int("NATS_SERVICE_JWT_LIFETIME", default=30 * 24 * 3600),
}
#: A user JWT held here is renewed when at most this fraction of its lifetime is left.
NATS_USER_JWT_RENEW_FRACTION = env.float("NATS_USER_JWT_RENEW_FRACTION", default=0.2)
#: A revocation is pruned this many seconds after the last JWT it refuses expired (servers' clocks may lag).
NATS_REVOCATION_PRUNE_MARGIN = env.int("NATS_REVOCATION_PRUNE_MARGIN", default=24 * 3600)

# --- Nebula ----------------------------------------------------------------------------------------------
#: Certificate version of new CAs: 1 works with every nebula release (Debian ships 1.6), 2 needs nebula >= 1.10.
NEBULA_CA_VERSION = env.int("NEBULA_CA_VERSION", default=1)
NEBULA_CA_VALIDITY_DAYS = env.int("NEBULA_CA_VALIDITY_DAYS", default=3650)
NEBULA_HOST_VALIDITY_DAYS = env.int("NEBULA_HOST_VALIDITY_DAYS", default=365)
#: `pki.key` in the config of a host whose device holds its own private key (overridable per host).
NEBULA_DEVICE_KEY_PATH = env.str("NEBULA_DEVICE_KEY_PATH", default="/etc/nebula/host.key")
#: Host certificates are renewed when at most this fraction of their lifetime is left.
NEBULA_RENEW_FRACTION = env.float("NEBULA_RENEW_FRACTION", default=0.2)
NEBULA_CA_EXPIRY_WARNING_DAYS = env.int("NEBULA_CA_EXPIRY_WARNING_DAYS", default=90)

# --- Health ----------------------------------------------------------------------------------------------
#: /readyz reuses its check results for this many seconds (the checks reach the database, Redis and NATS).
READYZ_CACHE_SECONDS = env.float("READYZ_CACHE_SECONDS", default=5.0)

# --- Metrics (/metrics, see stoneage/metrics.py) -----------------------------------------------------------
#: Bearer token a scraper must present; and/or addresses or networks it must come from. With neither set,
#: /metrics answers 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOW = env.list("METRICS_ALLOW", default=[])
try:
    [ipaddress.ip_network(entry, strict=False) for entry in METRICS_ALLOW]
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOW: {exc}") from exc
#: Where workers and web processes count the shared metrics (push latency, task failures, command outcomes).
METRICS_REDIS_URL = env.str("METRICS_REDIS_URL", default="")
METRICS_REDIS_PREFIX = env.str("METRICS_REDIS_PREFIX", default="stoneage:metrics")
#: The gauges computed from the database are reused for this many seconds.
METRICS_CACHE_SECONDS = env.float("METRICS_CACHE_SECONDS", default=15.0)
#: Certificates and CAs expiring within this many days are counted as expiring.
METRICS_EXPIRY_DAYS = env.int("METRICS_EXPIRY_DAYS", default=30)

# --- Secrets at rest -------------------------------------------------------------------------------------
# Comma-separated list of base64 (urlsafe) 32-byte keys: the first encrypts, all decrypt.
STONEAGE_SECRET_KEYS = env.list("STONEAGE_SECRET_KEYS", default=[])

# --- Tenancy ---------------------------------------------------------------------------------------------
INVITATION_TTL = timedelta(days=env.int("INVITATION_TTL_DAYS", default=7))

# --- Audit log -------------------------------------------------------------------------------------------
# Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For names the client; none by default.
AUDIT_TRUSTED_PROXIES = env.list("AUDIT_TRUSTED_PROXIES", default=[])
# Record safe API requests (GET/HEAD/OPTIONS) too, not only mutating ones.
AUDIT_API_READS = env.bool("AUDIT_API_READS", default=False)
# Comma-separated list of base64 (urlsafe) 32-byte HMAC keys of the hash chains: the first chains new events,
# all verify. Required unless DEBUG (then derived from SECRET_KEY when unset).
STONEAGE_AUDIT_KEYS = env.list("STONEAGE_AUDIT_KEYS", default=[])

# --- Email -----------------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Stone Age <noreply@localhost>")

# --- REST API --------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenancy.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "stoneage.api.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "stoneage.filters.FilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "stoneage.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Stone Age API",
    "DESCRIPTION": "Control plane for IoT fleets on NATS and Nebula.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Security (production) -------------------------------------------------------------------------------
# Behind a TLS-ending proxy (Caddy) that sets X-Forwarded-Proto. Turn off when clients reach daphne directly:
# anyone could then claim HTTPS with that header.
if env.bool("TRUST_X_FORWARDED_PROTO", default=True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# JSON lines (one object per line, with the request id) unless DEBUG; LOG_FORMAT=text for plain lines.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text; got {LOG_FORMAT!r}.")
LOGGING = logs.config(LOG_FORMAT, env.str("LOG_LEVEL", default="INFO"))

# Devices authenticate with their own nkey (inventory.devices.auth): a signed one-time nonce opens a session.
DEVICE_NONCE_SECONDS = env.int("DEVICE_NONCE_SECONDS", default=60)
DEVICE_SESSION_SECONDS = env.int("DEVICE_SESSION_SECONDS", default=900)
DEVICE_AUTH_RATE = env.str("DEVICE_AUTH_RATE", default="120/minute")
# The HTTP gateway (inventory.devices.gateway): signed-request window, body size, batch size, rate per thing, pool.
DEVICE_SIGNATURE_WINDOW = env.int("DEVICE_SIGNATURE_WINDOW", default=30)
DEVICE_GATEWAY_MAX_BODY = env.int("DEVICE_GATEWAY_MAX_BODY", default=256 * 1024)
DEVICE_GATEWAY_MAX_BATCH = env.int("DEVICE_GATEWAY_MAX_BATCH", default=100)
DEVICE_GATEWAY_RATE = env.str("DEVICE_GATEWAY_RATE", default="600/minute")
DEVICE_GATEWAY_POOL_SIZE = env.int("DEVICE_GATEWAY_POOL_SIZE", default=2)
# Enrollment (`inventory.services.enrollment`): a token's lifetime, the unauthenticated endpoint's rate, and the
# NATS URLs handed to devices (the public ones, not the control plane's own NATS_URL).
ENROLLMENT_TOKEN_HOURS = env.int("ENROLLMENT_TOKEN_HOURS", default=24)
ENROLL_RATE = env.str("ENROLL_RATE", default="30/minute")
NATS_PUBLIC_URLS = env.list("NATS_PUBLIC_URLS", default=[])  # empty: NATS_URL
# The admin flags a device whose certificate or JWT expires within this many days.
DEVICE_EXPIRY_WARNING_DAYS = env.int("DEVICE_EXPIRY_WARNING_DAYS", default=14)
