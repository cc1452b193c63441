from django.contrib.admin.apps import AdminConfig


class StoneAgeAdminConfig(AdminConfig):
    default_site = "stoneage.admin_site.StoneAgeAdminSite"

    def ready(self):
        super().ready()
        # The project's Celery app, configured from settings, before any task is sent (see stoneage/__init__.py).
        import stoneage.celery  # noqa: F401
