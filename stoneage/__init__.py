"""The Stone Age project package.

The Celery app is loaded when Django starts (`StoneAgeAdminConfig.ready`), so that `shared_task` binds to it,
and by `celery -A stoneage` (which finds `stoneage.celery`); not here, so that the `stoneage.cli` client imports
this package without Celery or Django.
"""


def __getattr__(name: str):
    if name == "celery_app":
        from stoneage.celery import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
