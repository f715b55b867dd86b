"""A task that logs a webhook URL and fails, for the worker-logging test in
test_logging.py: the worker imports this module with ``--include``."""

from celery import shared_task
from celery.utils.log import get_task_logger

logger = get_task_logger(__name__)


@shared_task(name="tests.closerarchive.log_webhook_url")
def log_webhook_url(url: str) -> None:
    logger.info("delivering to %s", url)
    raise RuntimeError(f"could not deliver to {url}")
