"""Check AWS CLI commands the way a user's shell and the AWS CLI would read them."""

from __future__ import annotations

import shlex

import botocore.session

SESSION = botocore.session.get_session()
# Options every AWS CLI command takes besides its operation's input members.
GLOBAL_OPTIONS = {"--region", "--profile", "--output", "--endpoint-url"}


def _camel(kebab: str) -> str:
    return "".join(part.capitalize() for part in kebab.split("-"))


def check_cli_command(command: str) -> dict[str, str]:
    """Parse a command as a POSIX shell would and check it against the botocore service model:
    the operation exists, every option is a member of its input (or a global option), every
    required member is given. Returns the operation's options by member name."""
    words = shlex.split(command)
    assert words[:1] == ["aws"], command
    service, operation = words[1], _camel(words[2])
    model = SESSION.get_service_model(service)
    assert operation in model.operation_names, command
    shape = model.operation_model(operation).input_shape
    options: dict[str, str] = {}
    rest = words[3:]
    while rest:
        name = rest.pop(0)
        assert name.startswith("--"), command
        if name in GLOBAL_OPTIONS:
            rest.pop(0)
            continue
        # The CLI maps --log-group-name to logGroupName or LogGroupName, whichever the model uses.
        members = {m.lower(): m for m in shape.members}
        member = members.get(_camel(name[2:]).lower())
        assert member is not None, (name, command)
        options[member] = "true" if shape.members[member].type_name == "boolean" else rest.pop(0)
    assert set(shape.required_members) <= set(options), command
    return options
