from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "Sync (outbox and webhooks)"

    def ready(self) -> None:
        """Plug delivery into the outbox, which never imports it (sync.outbox.listeners says
        why and how), and register the Celery tasks delivery publishes by name."""
        from sync import tasks  # noqa: F401 (registers them)
        from sync.delivery.erasure import deliveries_forget_contact, erasure_notices_keep, moved_notices_keep
        from sync.delivery.nudge import fanout_nudge
        from sync.outbox.listeners import (
            contact_erased_listener_add,
            contact_moved_listener_add,
            events_written_listener_add,
        )

        events_written_listener_add(fanout_nudge)
        contact_erased_listener_add(deliveries_forget_contact)
        contact_erased_listener_add(erasure_notices_keep)
        contact_moved_listener_add(moved_notices_keep)
