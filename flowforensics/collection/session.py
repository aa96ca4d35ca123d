"""Sessions and clients as the AWS CLI makes them, each guarded read-only and paced.

Credentials, profiles (SSO and assumed-role included), regions and ``AWS_ENDPOINT_URL`` resolve through
boto3's own chain; ``endpoint_url`` overrides it for every service, as the CLI's ``--endpoint-url`` does.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from flowforensics import __version__
from flowforensics.collection import answers, readonly
from flowforensics.collection.limiter import RateLimiters
from flowforensics.collection.stopping import Stop
from flowforensics.errors import CollectionError

# Seconds to open a connection and to wait for each read of an answer. AWS answers in well under a
# second; an endpoint silent this long is not going to answer (botocore waits 60 s for each).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
# Attempts per call, retries included: what the AWS CLI's standard mode makes of throttling and
# transient errors; the CloudTrail limiter keeps LookupEvents under its rate in the first place.
MAX_ATTEMPTS = 5

# Global services answer from one region of the partition; their CloudTrail events are there too.
GLOBAL_SERVICE_REGIONS: dict[str, str] = {"iam": "us-east-1", "organizations": "us-east-1"}

# Error codes that mean the credentials themselves are unusable: the run stops with one line
# instead of recording every later call as a gap.
CREDENTIAL_ERRORS: dict[str, str] = {
    "ExpiredToken": "the AWS credentials have expired",
    "ExpiredTokenException": "the AWS credentials have expired",
    "RequestExpired": "the AWS credentials have expired",
    "InvalidClientTokenId": "the AWS access key is not valid",
    "UnrecognizedClientException": "the AWS access key is not valid",
    "SignatureDoesNotMatch": "the AWS secret key does not match the access key",
    "AuthFailure": "AWS refused the credentials",
}

# botocore exceptions raised while resolving credentials -> what the user should do.
_CREDENTIAL_EXCEPTIONS: tuple[tuple[type[Exception], str], ...] = (
    (
        botocore.exceptions.NoCredentialsError,
        "no AWS credentials found: pass --profile, set AWS_PROFILE or AWS_ACCESS_KEY_ID, or run 'aws configure'",
    ),
    (botocore.exceptions.TokenRetrievalError, "the SSO session has expired: run 'aws sso login'"),
    (botocore.exceptions.SSOTokenLoadError, "no SSO session: run 'aws sso login'"),
    (botocore.exceptions.UnauthorizedSSOTokenError, "the SSO session has expired: run 'aws sso login'"),
    (botocore.exceptions.CredentialRetrievalError, "the AWS credentials could not be obtained"),
    (botocore.exceptions.EndpointConnectionError, "cannot reach the AWS endpoint"),
)


def make_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """A boto3 session resolved like the AWS CLI's (``--profile``, ``--region``, environment, config files).

    Raises
    ------
    CollectionError
        When the profile does not exist.
    """
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound:
        raise CollectionError(f"AWS profile {profile!r} not found in the AWS config files") from None


def credential_problem(exc: Exception) -> str | None:
    """One line for an exception that means the credentials are missing, expired or refused, else ``None``."""
    if isinstance(exc, botocore.exceptions.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in CREDENTIAL_ERRORS:
            return f"{CREDENTIAL_ERRORS[code]} ({code}): refresh them, or pass another --profile"
        return None
    for kind, message in _CREDENTIAL_EXCEPTIONS:
        if isinstance(exc, kind):
            return f"{message} ({exc})"
    return None


class ClientFactory:
    """One client per service and region, shared by the threads of a run.

    Every client (made here or injected) refuses non-read operations (:mod:`.readonly`), is paced by
    the run's rate limiters, and counts the API calls it makes (:attr:`calls`).

    Parameters
    ----------
    session : boto3.Session
        Where credentials and the default region come from.
    region : str, optional
        The default region; the session's when omitted.
    endpoint_url : str, optional
        One endpoint for every service (moto server, LocalStack); ``AWS_ENDPOINT_URL`` and the
        config files apply when omitted, through boto3.
    clients : mapping, optional
        Clients to use instead of making them (tests inject Stubber-driven clients), keyed by
        ``(service, region)`` or by ``service`` for every region.
    retry_mode : {"standard", "adaptive"}, optional
        botocore's retry mode (both retry ``ThrottlingException`` with backoff); by default the
        configured one (``AWS_RETRY_MODE``, the profile), else standard.
    max_attempts : int
        Attempts per call, retries included, unless ``AWS_MAX_ATTEMPTS`` or the profile set them.
    connect_timeout, read_timeout : float
        Seconds to open a connection, and to wait for each read of an answer (per attempt).
    limiters : RateLimiters, optional
        The run's rate limiters; a fresh set with the documented rates, whose waits end when the
        run stops, by default.
    stop : Stop, optional
        The run's stop signal (a fresh one by default): once set, no request is sent.
    """

    def __init__(
        self,
        session: boto3.Session,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        clients: Mapping[Any, Any] | None = None,
        retry_mode: str | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        limiters: RateLimiters | None = None,
        stop: Stop | None = None,
    ) -> None:
        self.session = session
        self.region = region or session.region_name
        if not self.region:
            raise CollectionError(
                "no AWS region: pass --region, set AWS_REGION or AWS_DEFAULT_REGION, or give the profile a region"
            )
        self.endpoint_url = endpoint_url
        # AWS_RETRY_MODE / AWS_MAX_ATTEMPTS and the profile's retry settings apply, as in the AWS CLI
        # (boto3 exposes its botocore session's config store only as _session).
        configured = session._session.get_config_variable
        self.config = Config(
            retries={
                "mode": retry_mode or configured("retry_mode") or "standard",
                "total_max_attempts": int(configured("max_attempts") or max_attempts),
            },
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            user_agent_extra=f"flowforensics/{__version__}",
        )
        self.stop = stop or Stop()
        self.limiters = limiters or RateLimiters(sleep=self.stop.wait)
        self.account: str | None = None
        self.calls: Counter[str] = Counter()  # API calls (pages) let through, per IAM action
        self._overrides = dict(clients or {})
        self._clients: dict[tuple[str, str], Any] = {}
        self._prepared: set[int] = set()
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()

    def client(self, service: str, region: str | None = None) -> Any:
        """The client of ``service`` in ``region`` (global services: their home region)."""
        region = GLOBAL_SERVICE_REGIONS.get(service) or region or self.region
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                client = self._overrides.get(key) or self._overrides.get(service)
                if client is None:
                    # boto3 sessions are not thread-safe; making clients under the lock keeps them safe.
                    client = self.session.client(
                        service, region_name=region, endpoint_url=self.endpoint_url, config=self.config
                    )
                self._prepare(client, region)
                self._clients[key] = client
            return self._clients[key]

    def _prepare(self, client: Any, region: str) -> None:
        if id(client) in self._prepared:
            return
        self._prepared.add(id(client))
        readonly.install(client, self._count)
        answers.install(client)
        self.limiters.install(client, self.account, region)
        self.stop.install(client)

    def _count(self, action: str) -> None:
        with self._count_lock:
            self.calls[action] += 1

    def caller_identity(self) -> dict[str, Any]:
        """``sts get-caller-identity`` without ``ResponseMetadata``; also sets :attr:`account`.

        Raises
        ------
        CollectionError
            One line when the credentials are missing, expired or refused.
        """
        try:
            identity = self.client("sts").get_caller_identity()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise CollectionError(credential_problem(exc) or f"sts:GetCallerIdentity failed: {exc}") from None
        if not identity.get("Account"):
            raise CollectionError("sts:GetCallerIdentity failed: the answer names no account")
        identity.pop("ResponseMetadata", None)
        self.account = identity.get("Account")
        return identity
