from django.contrib.admin.apps import AdminConfig


class StoneAgeAdminConfig(AdminConfig):
    default_site = "stoneage.admin_site.StoneAgeAdminSite"
