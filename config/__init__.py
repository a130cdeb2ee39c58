# Load the Celery app with Django, so that `task.delay()` in the web process publishes to
# CELERY_BROKER_URL; without it, shared tasks fall back to Celery's default app (amqp://localhost).
from config.celery import app as celery_app

__all__ = ("celery_app",)
