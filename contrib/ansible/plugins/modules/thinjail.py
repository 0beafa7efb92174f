#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: BSD-2-Clause
"""Ansible module: make a FreeBSD host match a thinjail recipe."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: thinjail
short_description: Make a FreeBSD host's thin jails match a thinjail recipe
description:
  - Runs C(thinjail apply RECIPE --yes --json) on the managed host and reports
    what it did. thinjail plans every action before it runs any, and a second
    run with the same recipe changes nothing, so the task is idempotent.
  - In check mode, runs C(thinjail plan RECIPE --format json) instead and
    reports C(changed) when the plan is not empty; nothing is changed.
  - With C(--diff), the planned commands are shown as an sh(1) script.
  - A failing apply fails the task with the command that failed, its exit
    status and its standard error; what completed before it is in C(applied)
    and what did not run in C(failed.not_run). Running the task again once the
    cause is fixed finishes the work.
version_added: "0.1.0"
author: thinjail developers
options:
  recipe:
    description:
      - Path of the recipe file on the managed host, or the name of a recipe
        built into thinjail (see C(thinjail recipes)).
    type: str
    required: true
  binary:
    description:
      - The thinjail command to run, a name looked up in C(PATH) or a path.
    type: str
    default: thinjail
  wait:
    description:
      - Wait for another running thinjail on the host instead of failing.
    type: bool
    default: false
  plugins:
    description:
      - Plugin libraries providing extra stages (C(--plugin)).
    type: list
    elements: path
    default: []
requirements:
  - thinjail on the managed host, run as root (C(become: true)).
notes:
  - Supports check mode and diff mode.
  - The JSON schemas are described in docs/json.md of thinjail's sources;
    this module reads format_version 1.
"""

EXAMPLES = r"""
- name: Thin jails as the recipe says
  thinjail:
    recipe: /usr/local/etc/thinjail.ron
  become: true

- name: What would change (check mode)
  thinjail:
    recipe: /usr/local/etc/thinjail.ron
  check_mode: true
  register: plan
"""

RETURN = r"""
changed:
  description: Whether thinjail changed the host (or, in check mode, would).
  type: bool
  returned: always
applied:
  description: The actions that ran, each with its stage and description.
  type: list
  returned: when not in check mode
failed_action:
  description: >-
    The action that failed, with command, status, stderr and not_run,
    as in the C(failed) object of C(thinjail apply --json).
  type: dict
  returned: when the apply failed on the host
plan:
  description: The plan, as C(thinjail plan --format json) prints it.
  type: dict
  returned: in check mode
commands:
  description: How many host commands thinjail ran.
  type: int
  returned: when not in check mode
rc:
  description: thinjail's exit status (see thinjail(8), EXIT STATUS).
  type: int
  returned: always
"""

import json

from ansible.module_utils.basic import AnsibleModule

# The JSON schema versions this module understands.
FORMAT_VERSION = 1

# thinjail's exit statuses (sysexits(3)), for messages.
EXIT_STATUS = {
    1: "a host command failed",
    64: "command line usage error",
    65: "the recipe is invalid",
    66: "the recipe file or a plugin library does not exist",
    69: "the host cannot be observed",
    70: "internal error",
    73: "a file could not be written",
    75: "another thinjail is running on this host (set wait: true to wait)",
    77: "not running as root (use become: true)",
    78: "the host's state conflicts with the recipe; nothing was changed",
}


def base_command(module):
    binary = module.params["binary"]
    if "/" not in binary:
        binary = module.get_bin_path(binary, required=True)
    argv = [binary]
    for plugin in module.params["plugins"]:
        argv += ["--plugin", plugin]
    return argv


def fail_status(module, rc, stdout, stderr, what):
    """Fails the task with thinjail's own message and what its exit status means."""
    message = stderr.strip() or stdout.strip() or "no output"
    prefix = "%s exited %d" % (what, rc)
    meaning = EXIT_STATUS.get(rc)
    if meaning:
        prefix += " (%s)" % meaning
    module.fail_json(msg="%s: %s" % (prefix, message), rc=rc, stdout=stdout, stderr=stderr)


def parse_report(module, rc, stdout, stderr, what):
    """The JSON report on stdout, or fail the task with thinjail's own message."""
    try:
        report = json.loads(stdout)
    except ValueError:
        fail_status(module, rc, stdout, stderr, what)
    if not isinstance(report, dict):
        module.fail_json(msg="%s printed unexpected JSON" % what, rc=rc, stdout=stdout, stderr=stderr)
    version = report.get("format_version")
    if version != FORMAT_VERSION:
        module.fail_json(
            msg="%s printed JSON format_version %r; this module reads %d"
            % (what, version, FORMAT_VERSION),
            rc=rc,
            stdout=stdout,
            stderr=stderr,
        )
    return report


def warnings_of(stderr):
    return [line for line in stderr.splitlines() if line.strip()]


def check(module, argv):
    recipe = module.params["recipe"]
    rc, stdout, stderr = module.run_command(argv + ["plan", recipe, "--format", "json"])
    if rc != 0:
        fail_status(module, rc, stdout, stderr, "thinjail plan")
    plan = parse_report(module, rc, stdout, stderr, "thinjail plan")
    result = {
        "changed": not plan.get("empty", True),
        "plan": plan,
        "rc": rc,
        "warnings": warnings_of(stderr),
    }
    if module._diff and result["changed"]:
        rc_sh, script, _ = module.run_command(argv + ["plan", recipe, "--format", "sh"])
        if rc_sh == 0:
            result["diff"] = {"before": "", "after": script, "after_header": "thinjail plan %s" % recipe}
    module.exit_json(**result)


def describe_failure(failed):
    message = "stage %s: %s failed" % (failed.get("stage"), failed.get("description"))
    if failed.get("command"):
        message += ": command %s: %s" % (failed["command"], failed.get("status"))
        stderr = (failed.get("stderr") or "").strip()
        if stderr:
            message += ": " + stderr
    else:
        message += ": " + str(failed.get("error"))
    return message


def apply(module, argv):
    command = argv + ["apply", module.params["recipe"], "--yes", "--json"]
    if module.params["wait"]:
        command.append("--wait")
    rc, stdout, stderr = module.run_command(command)
    report = parse_report(module, rc, stdout, stderr, "thinjail apply")
    applied = [
        {"stage": a.get("stage"), "description": a.get("description")}
        for a in report.get("applied", [])
    ]
    result = {
        "changed": bool(report.get("changed")),
        "applied": applied,
        "commands": report.get("commands"),
        "seconds": report.get("seconds"),
        "rc": rc,
    }
    failed = report.get("failed")
    if failed or rc != 0:
        failed = failed or {}
        module.fail_json(
            msg=describe_failure(failed) if failed else "thinjail apply exited %d" % rc,
            failed_action=failed,
            stderr=stderr,
            **result
        )
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec={
            "recipe": {"type": "str", "required": True},
            "binary": {"type": "str", "default": "thinjail"},
            "wait": {"type": "bool", "default": False},
            "plugins": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    argv = base_command(module)
    if module.check_mode:
        check(module, argv)
    else:
        apply(module, argv)


if __name__ == "__main__":
    main()
