"""Fixtures of the IAM tests."""

from __future__ import annotations

from typing import Any

import pytest
from iam_states import ACCOUNT, FLOW_LOG_ARN, LOG_GROUP, REGION, ROLE_ARN, documented_policy, trust_policy


@pytest.fixture
def healthy() -> dict[str, Any]:
    """Keyword arguments of delivery_verdict/propose_fix for a role that delivers."""
    return {
        "role_arn": ROLE_ARN,
        "trust_policy": ("trust", trust_policy()),
        "identity_policies": [("flow-logs-delivery", documented_policy())],
        "log_group": LOG_GROUP,
        "region": REGION,
        "account_id": ACCOUNT,
        "flow_log_arn": FLOW_LOG_ARN,
    }
