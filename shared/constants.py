"""Fixed values of the product. Anything a deployment may change is a setting instead."""

from datetime import timedelta
from typing import Final

API_VERSION_PREFIX: Final = "v1"
#: Largest request body the HTTP API accepts (bytes); larger bodies get 413.
MAX_REQUEST_BODY_BYTES: Final = 256 * 1024
#: Longest stage text a worker may report; longer text is cut.
MAX_STAGE_CHARS: Final = 200
#: Longest error message kept on a job; longer messages are cut.
MAX_ERROR_CHARS: Final = 2000
#: Most attempts one round of a job may have (a submit's max_attempts, a requeue's).
MAX_ATTEMPTS: Final = 100
#: Most jobs one batch submit may carry.
MAX_BATCH: Final = 100
#: Furthest ahead a job may be scheduled.
MAX_SCHEDULE_AHEAD: Final = timedelta(days=365)
#: Most dead-lettered jobs one bulk requeue or purge handles.
MAX_BULK: Final = 1000
#: Page size bounds for listing endpoints.
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 500
#: Seconds a client is told to wait before polling a job again.
POLL_AFTER_SECONDS: Final = 1
#: Longest ``Prefer: wait=N`` a long-poll of a job honours (RFC 7240): a waiting request
#: holds a function execution (billed by duration in Azure) and one of the instance's
#: concurrent HTTP requests, and Azure's front end ends any request at 230 s.
MAX_LONG_POLL_SECONDS: Final = 60
#: Application property names carried on every queue message.
PROP_JOB_ID: Final = "dtq-job-id"
PROP_TENANT_ID: Final = "dtq-tenant-id"
PROP_ATTEMPT: Final = "dtq-attempt"
PROP_TRACEPARENT: Final = "traceparent"
#: The same context under the name the Azure SDKs and Application Insights read.
PROP_DIAGNOSTIC_ID: Final = "Diagnostic-Id"
#: Tenant used by the keyless local host.
LOCAL_TENANT_ID: Final = "local"
PROBLEM_JSON: Final = "application/problem+json"
