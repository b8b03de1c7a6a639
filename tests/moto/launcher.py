"""proxydoc's test launcher for moto: moto's own server, with test-only fixes applied first.

Usage: python launcher.py -H 127.0.0.1 -p PORT   (the same flags as moto_server)

moto is pinned to 5.2.5 (requirements.txt) because these patches reach into its internals;
re-check them on every upgrade. See shared/reference/moto.md §4 and §6.

Patches:
1. CloudWatch Logs `_find_log_group`: moto's loop never breaks, so any `logGroupIdentifier`
   resolves to the newest group (bug B1). Resolve a name or an ARN (with or without `:*`),
   and raise ResourceNotFoundException for an unknown one.
2. RDS proxy target health: moto reports only REGISTERING/AVAILABLE. A tag on the target DB
   instance, `proxydoc:target-health` = `STATE[:REASON[:DESCRIPTION]]` (split on the first two
   colons), sets State, Reason and Description, so tests can build e.g.
   `UNAVAILABLE:AUTH_FAILURE:Proxy does not have any registered credentials`.
3. RDS calls on an unknown proxy name answer DBProxyNotFoundFault (404) instead of a 500.
4. ModifyDBProxy (not implemented in moto): updates DebugLogging, RequireTLS,
   IdleClientTimeout (clamped to 1..28800 s), SecurityGroups, RoleArn and Auth, refreshes
   UpdatedDate, and answers the proxy; an unknown proxy is DBProxyNotFoundFault.
5. Test-only proxy tags: `proxydoc-test:status` = STATUS makes DescribeDBProxies report that
   status (e.g. `modifying`); `proxydoc-test:deny` = comma-separated RDS actions
   (`ModifyDBProxy`, `AddTagsToResource`, `RemoveTagsFromResource`) makes those calls on that
   proxy answer AccessDenied, as a caller without the IAM permission would see.
6. Logs Insights query parsing: moto's toy tokenizer reads the words inside a `/regex/`
   literal as commands (`… rate limit exceeded …` → `limit exceeded` → ValueError → 500). The
   regex literals are blanked before moto parses the query; moto still runs only
   `fields`/`sort`/`limit`, as before.
7. DB proxy endpoints (CreateDBProxyEndpoint, DescribeDBProxyEndpoints: not implemented in
   moto, a 500): kept per backend; the endpoint's VPC is its subnets' VPC, its status
   `available`.

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

from moto.rds import models as rds_models
from moto.rds.exceptions import DBProxyNotFoundFault

HEALTH_TAG = "proxydoc:target-health"
_stock_target_health = rds_models.DBProxyTarget.target_health


def _target_health(self):
    backend = getattr(self, "backend", None)
    database = getattr(backend, "databases", {}).get(self.rds_resource_id) if backend else None
    for tag in getattr(database, "tags", None) or []:
        if tag.get("Key") == HEALTH_TAG:
            parts = tag.get("Value", "").split(":", 2)
            health = {"State": parts[0]}
            if len(parts) > 1 and parts[1]:
                health["Reason"] = parts[1]
            if len(parts) > 2 and parts[2]:
                health["Description"] = parts[2]
            return health
    return _stock_target_health.fget(self)


rds_models.DBProxyTarget.target_health = property(_target_health)


def _require_proxy(method):
    def wrapper(self, *args, **kwargs):
        name = kwargs.get("db_proxy_name") or kwargs.get("proxy_name") or (args[0] if args else None)
        if name not in self.db_proxies:
            raise DBProxyNotFoundFault(name)
        return method(self, *args, **kwargs)

    return wrapper


from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.rds import responses as rds_responses


def _flag(value):
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def _modify_db_proxy(self):
    params = self.params
    name = params.get("DBProxyName")
    proxy = self.backend.db_proxies.get(name)
    if proxy is None:
        raise DBProxyNotFoundFault(name)
    if params.get("DebugLogging") is not None:
        proxy.debug_logging = _flag(params["DebugLogging"])
    if params.get("RequireTLS") is not None:
        proxy.require_tls = _flag(params["RequireTLS"])
    if params.get("IdleClientTimeout") is not None:
        proxy.idle_client_timeout = min(max(int(params["IdleClientTimeout"]), 1), 28800)
    if params.get("SecurityGroups"):
        proxy.vpc_security_group_ids = list(params["SecurityGroups"])
    if params.get("RoleArn"):
        proxy.role_arn = params["RoleArn"]
    if params.get("Auth"):
        proxy.auth = params["Auth"]
    proxy.updated_date = utcnow()
    return ActionResult({"DBProxy": proxy})


rds_responses.RDSResponse.modify_db_proxy = _modify_db_proxy

for _name in (
    "register_db_proxy_targets",
    "describe_db_proxy_targets",
    "describe_db_proxy_target_groups",
    "modify_db_proxy_target_group",
):
    if hasattr(rds_models.RDSBackend, _name):
        setattr(rds_models.RDSBackend, _name, _require_proxy(getattr(rds_models.RDSBackend, _name)))


def _exit_with_parent(parent):
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


STATUS_TAG = "proxydoc-test:status"
DENY_TAG = "proxydoc-test:deny"


def _test_tag(proxy, key):
    for tag in getattr(proxy, "tags", None) or []:
        if tag.get("Key") == key:
            return tag.get("Value", "")
    return None


def _proxy_status_get(self):
    return _test_tag(self, STATUS_TAG) or self.__dict__.get("_status", "available")


def _proxy_status_set(self, value):
    self.__dict__["_status"] = value


rds_models.DBProxy.status = property(_proxy_status_get, _proxy_status_set)

from moto.rds.exceptions import RDSClientError


class _AccessDenied(RDSClientError):
    code = 403

    def __init__(self, action, resource):
        super().__init__(
            "AccessDenied",
            f"User: arn:aws:iam::123456789012:user/moto is not authorized to perform: rds:{action} on resource: {resource} because no identity-based policy allows the rds:{action} action",
        )


def _proxy_for(backend, params):
    name = params.get("DBProxyName")
    if name:
        return backend.db_proxies.get(name)
    arn = params.get("ResourceName") or ""
    for proxy in backend.db_proxies.values():
        if getattr(proxy, "arn", None) == arn:
            return proxy
    return None


def _deniable(action, method):
    def wrapper(self):
        proxy = _proxy_for(self.backend, self.params)
        denied = (_test_tag(proxy, DENY_TAG) or "") if proxy is not None else ""
        if action in [a.strip() for a in denied.split(",")]:
            raise _AccessDenied(action, getattr(proxy, "arn", "") or "")
        return method(self)

    return wrapper


for _action, _method in (
    ("ModifyDBProxy", "modify_db_proxy"),
    ("AddTagsToResource", "add_tags_to_resource"),
    ("RemoveTagsFromResource", "remove_tags_from_resource"),
):
    setattr(
        rds_responses.RDSResponse,
        _method,
        _deniable(_action, getattr(rds_responses.RDSResponse, _method)),
    )


from moto.logs import logs_query as _logs_query

_REGEX_LITERAL = re.compile(r"/(?:\\.|[^/\\])*/")
_original_parse_query = _logs_query.parse_query


def _parse_query(query):
    return _original_parse_query(_REGEX_LITERAL.sub("//", query))


_logs_query.parse_query = _parse_query


# 7. DB proxy endpoints.
def _proxy_endpoints(backend):
    if not hasattr(backend, "_proxydoc_endpoints"):
        backend._proxydoc_endpoints = {}
    return backend._proxydoc_endpoints


def _create_db_proxy_endpoint(self):
    from moto.ec2.models import ec2_backends

    params = self.params
    name = params.get("DBProxyName")
    if name not in self.backend.db_proxies:
        raise DBProxyNotFoundFault(name)
    endpoint_name = params["DBProxyEndpointName"]
    subnets = list(params.get("VpcSubnetIds") or [])
    ec2 = ec2_backends[self.current_account][self.region]
    vpc = ec2.get_subnet(subnets[0]).vpc_id if subnets else None
    endpoint = {
        "DBProxyEndpointName": endpoint_name,
        "DBProxyEndpointArn": f"arn:aws:rds:{self.region}:{self.current_account}:db-proxy-endpoint:prx-endpoint-{endpoint_name}",
        "DBProxyName": name,
        "Status": "available",
        "VpcId": vpc,
        "VpcSecurityGroupIds": list(params.get("VpcSecurityGroupIds") or []),
        "VpcSubnetIds": subnets,
        "Endpoint": f"{endpoint_name}.endpoint.proxy-test.{self.region}.rds.amazonaws.com",
        "TargetRole": params.get("TargetRole") or "READ_WRITE",
        "IsDefault": False,
    }
    _proxy_endpoints(self.backend)[endpoint_name] = endpoint
    return ActionResult({"DBProxyEndpoint": endpoint})


def _describe_db_proxy_endpoints(self):
    name = self.params.get("DBProxyName")
    wanted = self.params.get("DBProxyEndpointName")
    if name and name not in self.backend.db_proxies:
        raise DBProxyNotFoundFault(name)
    endpoints = [
        e
        for e in _proxy_endpoints(self.backend).values()
        if (not name or e["DBProxyName"] == name) and (not wanted or e["DBProxyEndpointName"] == wanted)
    ]
    return ActionResult({"DBProxyEndpoints": endpoints})


rds_responses.RDSResponse.create_db_proxy_endpoint = _create_db_proxy_endpoint
rds_responses.RDSResponse.describe_db_proxy_endpoints = _describe_db_proxy_endpoints


if __name__ == "__main__":
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    from moto.server import main

    main(sys.argv[1:])
