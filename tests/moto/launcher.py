"""proxydoc's test launcher for moto: moto's own server, with test-only fixes applied first.

Usage: python launcher.py -H 127.0.0.1 -p PORT   (the same flags as moto_server)

moto is pinned to 5.2.5 (requirements.txt) because these patches reach into its internals;
re-check them on every upgrade. See shared/reference/moto.md §4 and §6.

Patches:
1. CloudWatch Logs `_find_log_group`: moto's loop never breaks, so any `logGroupIdentifier`
   resolves to the newest group (bug B1). Resolve a name or an ARN (with or without `:*`),
   and raise ResourceNotFoundException for an unknown one.

The launcher also exits when the process that started it goes away, so a test run that is
killed does not leave a server behind.
"""

import os
import re
import sys
import threading
import time

from moto.logs import models as logs_models
from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException


def _find_log_group(self, log_group_id=None, log_group_name=None):
    group = None
    if log_group_name:
        group = self.groups.get(log_group_name)
    elif log_group_id:
        if not re.fullmatch(r"[\w#+=/:,.@-]*", log_group_id):
            raise InvalidParameterException(
                msg="1 validation error detected: Value at 'logGroupIdentifier' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: [\\w#+=/:,.@-]*"
            )
        ident = log_group_id[:-2] if log_group_id.endswith(":*") else log_group_id
        group = self.groups.get(ident)
        if group is None:
            for candidate in self.groups.values():
                if candidate.arn.removesuffix(":*") == ident:
                    group = candidate
                    break
    else:
        raise InvalidParameterException("Should provide either name or id, but not both")
    if group is None:
        raise ResourceNotFoundException()
    return group


logs_models.LogsBackend._find_log_group = _find_log_group


def _exit_with_parent(parent):
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


if __name__ == "__main__":
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    from moto.server import main

    main(sys.argv[1:])
