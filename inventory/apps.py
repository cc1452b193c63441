from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        from inventory import auditing, signals  # noqa: F401 - signals: config notifications to devices
        from inventory.devices import schema  # noqa: F401 - registers the OpenAPI auth scheme

        auditing.register_inventory()
