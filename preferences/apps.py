from django.apps import AppConfig


class PreferencesConfig(AppConfig):
    name = "preferences"
    verbose_name = "Preferences"

    def ready(self) -> None:
        """Give the connectors contacts' current state, and the recording of a vendor's "no",
        without their importing the domain (sync.outbox.contact_state says why)."""
        from preferences.connector_state import (
            address_holders,
            brand_catalogue,
            contact_refs,
            contacts_extent,
            contacts_external_ids,
            contacts_state,
        )
        from preferences.vendor_signals import vendor_signal_record
        from sync.outbox.contact_state import (
            address_holders_reader_set,
            brand_catalogue_reader_set,
            contact_external_ids_reader_set,
            contact_refs_reader_set,
            contact_state_reader_set,
        )
        from sync.outbox.vendor_signals import signal_recorder_set

        contact_state_reader_set(contacts_state)
        brand_catalogue_reader_set(brand_catalogue)
        contact_refs_reader_set(contact_refs, contacts_extent)
        contact_external_ids_reader_set(contacts_external_ids)
        address_holders_reader_set(address_holders)
        signal_recorder_set(vendor_signal_record)
