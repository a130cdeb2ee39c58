from __future__ import annotations

from django.db import models
from django.utils import timezone


class Row(models.Model):
    """One small row: what the read and insert ceilings touch."""

    value = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.value
