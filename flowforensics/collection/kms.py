"""KMS: the key policy of an encrypted log group (CloudWatch Logs must be allowed to use the key)."""

from __future__ import annotations

from flowforensics.collection.recorder import Recorder

KEY_POLICY_NAME = "default"  # the only key policy name KMS supports


def key_policy(rec: Recorder, region: str, key_id: str) -> None:
    """Write ``kms:GetKeyPolicy`` as ``{"Policy": "...", "PolicyName": "default"}``.

    ``key_id`` is the log group's ``kmsKeyId`` (a key ARN): the key's own region is taken from it.
    """
    parts = key_id.split(":")
    key_region = parts[3] if key_id.startswith("arn:") and len(parts) > 3 else region
    parameters = {"KeyId": key_id, "PolicyName": KEY_POLICY_NAME}
    if rec.reuse("kms:GetKeyPolicy", parameters, region=key_region) is not None:
        return
    response = rec.fetch("kms:GetKeyPolicy", parameters, region=key_region, save=False)
    if response is not None:
        # Older KMS answers omit PolicyName; the loader recognises the key policy by both keys.
        payload = {"Policy": response["Policy"], "PolicyName": response.get("PolicyName", KEY_POLICY_NAME)}
        rec.save("kms:GetKeyPolicy", payload, parameters=parameters, region=key_region)
