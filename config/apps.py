from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project's own hooks (config is an app only for this)."""

    name = "config"
    verbose_name = "Candor"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from config.db import timestamptz_loader_install

        connection_created.connect(timestamptz_loader_install, dispatch_uid="timestamptz_loader")
