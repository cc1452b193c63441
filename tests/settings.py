"""Settings for the test suite: the project's settings with test-friendly environment defaults.

DATABASE_URL and REDIS_URL still come from the environment (PostgreSQL and Redis in CI).
"""

import os
import tempfile

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-" + "k" * 40)
# A Redis database of its own, so a running `make dev` worker never picks up test tasks.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("STONEAGE_SECRET_KEYS", "dGVzdC1rZXktMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=")
os.environ.setdefault("STONEAGE_AUDIT_KEYS", "dGVzdC1hdWRpdC1rZXktMDAwMDAwMDAwMDAwMDAwMDA=")

from stoneage.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not the in-memory default, so that the Celery worker started by the integration tests shares it.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"stoneage-test-{os.getpid()}.sqlite3")
    }

# Per process and cleared before each test (tests/conftest.py): sign-in throttling counts here.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Uploads of the test run go to a directory of their own.
MEDIA_ROOT = os.path.join(tempfile.gettempdir(), f"stoneage-test-media-{os.getpid()}")
BACKUP_ROOT = os.path.join(tempfile.gettempdir(), f"stoneage-test-backups-{os.getpid()}")
