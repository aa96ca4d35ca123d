"""Analysis over evidence frames: IAM decisions, role history, observed delivery, diagnosis, timeline."""
