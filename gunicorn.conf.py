"""gunicorn's settings, read from the repository root (where deploy/Procfile starts it; gunicorn
also reads this file by default from there). Access and error lines are redacted: no link
token, API key, email address or phone number reaches them (config/logfilters.py)."""

logger_class = "config.gunicorn_logging.RedactingLogger"
