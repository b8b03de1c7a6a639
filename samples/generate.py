#!/usr/bin/env python3
"""Writes the incident samples in samples/ deterministically (fixed seed).

The message texts are the RDS Proxy templates and client errors of rds-proxy-logs.md (§1-§3);
the incidents, names, addresses and ids are invented for this project. Run from the repository
root: `python3 samples/generate.py`. The outputs are committed; CI does not run this script.
"""

import csv
import gzip
import io
import json
import os
import random
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.abspath(__file__))
ACCOUNT = "123456789012"
REGION = "us-east-1"
PROXY = "orders-proxy"
PROXY_HOST = f"{PROXY}.proxy-c9akciq32xyz.{REGION}.rds.amazonaws.com"


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def ms(t):
    return int(t.timestamp() * 1000)


class Proxy:
    """Writes proxy log lines for one proxy; keeps connection ids unique."""

    def __init__(self, rng, db_ip="10.0.10.246", db_port=5432, engine="postgresql"):
        self.rng = rng
        self.lines = []  # (time, text, stream)
        self.db_ip = db_ip
        self.db_port = db_port
        self.engine = engine
        self.streams = ["5f0e2a8e6b2c4b1f9d3c7a6e01", "a41c93d07be24f55808e2c1d99"]

    def conn_id(self):
        return self.rng.randrange(10_000_000, 4_294_967_295)

    def line(self, t, level, message, endpoint="default", client=None, db=None, bare=False):
        if bare:
            text = message
        else:
            parts = [iso(t), f"[{level}]"]
            if endpoint:
                parts.append(f"[proxyEndpoint={endpoint}]")
            if client is not None:
                parts.append(f"[clientConnection={client}]")
            if db is not None:
                parts.append(f"[dbConnection={db}]")
            parts.append(message)
            text = " ".join(parts)
        self.lines.append((t, text, self.rng.choice(self.streams)))

    def db_open(self, t):
        db = self.conn_id()
        self.line(
            t, "INFO",
            f"A TCP connection was established from the proxy at 10.0.11.{self.rng.randrange(10, 60)}:"
            f"{self.rng.randrange(10000, 60000)} to the database at {self.db_ip}:{self.db_port}.",
            endpoint=None, db=db)
        return db

    def connect(self, t, ip, endpoint="default"):
        client = self.conn_id()
        self.line(t, "INFO", f"A new client connected from {ip}:{self.rng.randrange(32768, 61000)}.",
                  endpoint=endpoint, client=client)
        return client

    def close(self, t, client, endpoint="default", requested=True):
        reason = ("The client requested that the connection close." if requested
                  else "The TCP channel was closed by either the client or the proxy.")
        self.line(t, "INFO", f"The client connection closed. Reason: {reason}",
                  endpoint=endpoint, client=client)

    def released(self, t, db):
        self.line(t, "INFO", "The database connection was released to the connection pool upon session reset.",
                  endpoint=None, db=db)

    def pinned(self, t, client, db, reason, endpoint="default"):
        self.line(t, "WARN",
                  f"The client session was pinned to the database connection [dbConnection={db}] for the "
                  f"remainder of the session. The proxy can't reuse this connection until the session ends. "
                  f"Reason: {reason}", endpoint=endpoint, client=client)

    def healthy_session(self, t, ip, endpoint="default", pin_reason=None):
        client = self.connect(t, ip, endpoint)
        t2 = t + timedelta(milliseconds=self.rng.randrange(5, 40))
        db = self.db_open(t2) if self.rng.random() < 0.3 else self.rng.randrange(10_000_000, 4_294_967_295)
        if pin_reason:
            self.pinned(t2 + timedelta(milliseconds=3), client, db, pin_reason, endpoint)
        t3 = t2 + timedelta(milliseconds=self.rng.randrange(50, 2000))
        self.released(t3, db)
        self.close(t3 + timedelta(milliseconds=2), client, endpoint)
        return t3

    def sorted_lines(self):
        return sorted(self.lines, key=lambda x: x[0])

    def text(self):
        return "".join(text + "\n" for _, text, _ in self.sorted_lines())


def write(path, text, mode="w"):
    full = os.path.join(ROOT, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    if "b" in mode:
        with open(full, mode) as f:
            f.write(text)
        return
    with open(full, mode, newline="") as f:
        f.write(text)


def write_gz(path, text):
    full = os.path.join(ROOT, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        # mtime=0 keeps the bytes deterministic.
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
            gz.write(text.encode())


def clients(rng, n, net="10.0.3"):
    return [f"{net}.{rng.randrange(2, 250)}" for _ in range(n)]


START = datetime(2026, 11, 24, 9, 58, 0, tzinfo=timezone.utc)


def healthy(rng):
    p = Proxy(rng)
    ips = clients(rng, 6)
    t = START
    for i in range(120):
        t = t + timedelta(milliseconds=rng.randrange(300, 2500))
        p.healthy_session(t, rng.choice(ips), endpoint=rng.choice(["default", "default", "reader"]))
    return p


def secret_access_denied(rng):
    """The canonical incident, also written in every export layout."""
    p = Proxy(rng)
    ips = clients(rng, 4)
    t = START
    for i in range(40):
        t += timedelta(milliseconds=rng.randrange(400, 2500))
        reason = "A parse message was detected." if i % 9 == 0 else None
        p.healthy_session(t, rng.choice(ips), pin_reason=reason)
    # 10:00: the secret was re-encrypted with a customer managed KMS key the role may not use.
    role = f"arn:aws:iam::{ACCOUNT}:role/orders-proxy-secrets-role"
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:orders/app-db-Xy12Zq"
    t = datetime(2026, 11, 24, 10, 0, 5, tzinfo=timezone.utc)
    for i in range(45):
        t += timedelta(milliseconds=rng.randrange(800, 6000))
        client = p.connect(t, rng.choice(ips))
        p.line(t + timedelta(milliseconds=4), None,
               f'Credentials couldn\'t be retrieved. The IAM role "{role}" is not authorized to read the '
               f'AWS Secrets Manager secret with the ARN "{secret}"', bare=True)
        p.close(t + timedelta(milliseconds=9), client, requested=False)
    return p


def layouts(p):
    """Writes the canonical incident in every layout proxydoc reads."""
    lines = p.sorted_lines()
    base = "layouts"
    text = p.text()
    write(f"{base}/plain.log", text)
    write_gz(f"{base}/plain.log.gz", text)

    events = []
    for i, (t, message, stream) in enumerate(lines):
        events.append({
            "logStreamName": stream,
            "timestamp": ms(t),
            "message": message,
            "ingestionTime": ms(t) + 1200 + (i % 7) * 100,
            # Stable across runs: derived from the timestamp and the position only.
            "eventId": f"3{ms(t):015d}{i:040d}",
        })
    write(f"{base}/filter-log-events.json",
          json.dumps({"events": events, "searchedLogStreams": []}, indent=4) + "\n")
    write(f"{base}/events.ndjson", "".join(json.dumps(e) + "\n" for e in events))
    # As Windows PowerShell 5.1 saves a redirected command's output (`aws logs
    # filter-log-events ... > proxy.json`): UTF-16 little-endian with a byte order mark, CRLF.
    document = json.dumps({"events": events, "searchedLogStreams": []}, indent=4) + "\n"
    write(f"{base}/powershell/filter-log-events.json",
          "\ufeff".encode("utf-16-le") + document.replace("\n", "\r\n").encode("utf-16-le"), "wb")
    # As `Out-File -Encoding utf8` writes it there: UTF-8 with a byte order mark, CRLF.
    write(f"{base}/powershell/events.ndjson",
          ("\ufeff" + "".join(json.dumps(e) + "\r\n" for e in events)).encode("utf-8"), "wb")

    # get-log-events is per stream: one document per stream.
    for stream in p.streams:
        per = [{"timestamp": e["timestamp"], "message": e["message"], "ingestionTime": e["ingestionTime"]}
               for e in events if e["logStreamName"] == stream]
        doc = {"events": per, "nextForwardToken": "f/3" + "0" * 55, "nextBackwardToken": "b/3" + "0" * 55}
        write(f"{base}/get-log-events/{stream}.json", json.dumps(doc, indent=4) + "\n")

    # S3 export: <prefix>/<task>/<stream>/000000.gz, export timestamp first, order not guaranteed.
    rng = random.Random(7)
    task = "b6f3c1d2-7a8e-4c55-9d11-0e2f3a4b5c6d"
    for stream in p.streams:
        rows = [(t, m) for t, m, s in lines if s == stream]
        chunks = [rows[i:i + 25] for i in range(0, len(rows), 25)]
        rng.shuffle(chunks)
        body = "".join(f"{iso(t)} {m}\n" for chunk in chunks for t, m in chunk)
        write_gz(f"{base}/s3-export/exportedlogs/{task}/{stream}/000000.gz", body)
    write(f"{base}/s3-export/exportedlogs/{task}/aws-logs-write-test", "Permission Check Successful")

    # aws logs tail --format detailed (colour on) and --format short.
    green, cyan, reset = "\x1b[32m", "\x1b[36m", "\x1b[0m"
    detailed = "".join(
        f"{green}{t.strftime('%Y-%m-%dT%H:%M:%S.%f')}+00:00{reset} {cyan}{s}{reset} {m}\n"
        for t, m, s in lines)
    write(f"{base}/tail-detailed.txt", detailed)
    short = "".join(f"{t.strftime('%Y-%m-%dT%H:%M:%S')} {m}\n" for t, m, s in lines)
    write(f"{base}/tail-short.txt", short)

    # Logs Insights: get-query-results JSON and the console's CSV export.
    def insights_ts(t):
        return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"

    results = [[
        {"field": "@timestamp", "value": insights_ts(t)},
        {"field": "@message", "value": m},
        {"field": "@logStream", "value": s},
        {"field": "@ptr", "value": f"CmAKJwojMTIzNDU2Nzg5MDEyOi9hd3MvcmRzL3Byb3h5L29yZGVycy1wcm94eRAA{i}"},
    ] for i, (t, m, s) in enumerate(reversed(lines))]
    doc = {"results": results,
           "statistics": {"recordsMatched": len(results), "recordsScanned": len(results),
                          "bytesScanned": sum(len(m) for _, m, _ in lines)},
           "status": "Complete"}
    write(f"{base}/insights-results.json", json.dumps(doc, indent=2) + "\n")
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(["@timestamp", "@message", "@logStream", "@log"])
    for t, m, s in reversed(lines):
        writer.writerow([insights_ts(t), m, s, f"{ACCOUNT}:/aws/rds/proxy/{PROXY}"])
    write(f"{base}/insights-export.csv", out.getvalue())


def iam_auth_failed_mysql(rng):
    p = Proxy(rng, db_ip="10.0.20.14", db_port=3306, engine="mysql")
    ips = clients(rng, 5, "10.0.7")
    t = START
    for i in range(60):
        t += timedelta(milliseconds=rng.randrange(500, 3000))
        if i >= 20 and i % 2 == 0:
            ip = ips[0] if i % 4 == 0 else ips[1]
            client = p.connect(t, ip)
            p.line(t + timedelta(milliseconds=119), "INFO",
                   'Proxy authentication with IAM authentication failed for user "reporting_iam" with TLS on. '
                   "Reason: Invalid credentials. If you provide an IAM token, make sure to either use the "
                   "correct password or enable IAM authentication.", client=client)
            p.close(t + timedelta(milliseconds=125), client, requested=False)
        else:
            p.healthy_session(t, rng.choice(ips[2:]))
    return p


def password_auth_failed_postgres(rng):
    p = Proxy(rng)
    ips = clients(rng, 5, "10.0.8")
    t = START
    for i in range(70):
        t += timedelta(milliseconds=rng.randrange(500, 3000))
        if i >= 25 and i % 3 != 0:
            client = p.connect(t, ips[0])
            p.line(t + timedelta(milliseconds=30), "INFO",
                   'Proxy authentication with PostgreSQL native password authentication failed for user '
                   '"billing" with TLS on. Reason: Invalid credentials.', client=client)
            p.close(t + timedelta(milliseconds=33), client, requested=False)
        else:
            p.healthy_session(t, rng.choice(ips[1:]))
    return p


def session_pinning(rng):
    p = Proxy(rng)
    ips = clients(rng, 6, "10.0.9")
    t = START
    reasons = [
        'SQL changed session settings that the proxy doesn\'t track. Consider moving session configuration '
        'to the proxy\'s initialization query. Digest: "set search_path to $1,$2,$3".',
        "A parse message was detected.",
        "The connection ran a SQL query which exceeded the 16384 byte limit.",
    ]
    for i in range(150):
        t += timedelta(milliseconds=rng.randrange(200, 1500))
        reason = reasons[0] if i % 3 == 0 else (reasons[1] if i % 5 == 0 else (reasons[2] if i == 77 else None))
        p.healthy_session(t, rng.choice(ips), pin_reason=reason)
    return p


def target_unreachable(rng):
    """The proxy's security group rule to the DB was removed: clients connect, nothing reaches the DB."""
    p = Proxy(rng, db_ip="10.0.30.5", db_port=3306, engine="mysql")
    ips = clients(rng, 4, "10.0.12")
    app = []
    t = START
    for i in range(40):
        t += timedelta(milliseconds=rng.randrange(1000, 5000))
        client = p.connect(t, rng.choice(ips))
        # ConnectionBorrowTimeout = 30 s in this proxy's target group.
        t_fail = t + timedelta(seconds=30, milliseconds=rng.randrange(1, 20))
        p.close(t_fail + timedelta(milliseconds=5), client, requested=False)
        app.append((t_fail,
                    f'{t_fail.strftime("%Y/%m/%d %H:%M:%S")} worker.go:88: checkout failed: '
                    f'Error 9501 (HY000): Timed-out waiting to acquire database connection'))
    app_text = "".join(line + "\n" for _, line in sorted(app))
    return p, app_text


def pool_exhausted(rng):
    """A traffic spike plus pinned sessions: the pool is full, borrow timeouts follow."""
    p = Proxy(rng)
    ips = clients(rng, 8, "10.0.14")
    app = []
    t = START
    for i in range(160):
        t += timedelta(milliseconds=rng.randrange(100, 900))
        if i > 60 and i % 4 == 0:
            client = p.connect(t, rng.choice(ips))
            t_fail = t + timedelta(seconds=120)
            p.close(t_fail, client, requested=False)
            app.append((t_fail, f"{t_fail.strftime('%Y-%m-%d %H:%M:%S')},{t_fail.microsecond // 1000:03d} "
                                f"ERROR [checkout-api] psycopg2.errors.ConnectionException: Timed-out waiting "
                                f"to acquire database connection"))
        else:
            reason = ('SQL changed session settings that the proxy doesn\'t track. Consider moving session '
                      'configuration to the proxy\'s initialization query. Digest: "set client_encoding to $1".'
                      if i % 2 == 0 else None)
            p.healthy_session(t, rng.choice(ips), pin_reason=reason)
    app_text = "".join(line + "\n" for _, line in sorted(app))
    return p, app_text


def two_causes(rng):
    """IAM failures (the bigger problem) and a TLS misconfiguration in a second service."""
    p = Proxy(rng)
    ips = clients(rng, 4, "10.0.16")
    t = START
    for i in range(80):
        t += timedelta(milliseconds=rng.randrange(300, 1500))
        if i % 3 == 0:
            client = p.connect(t, ips[0])
            p.line(t + timedelta(milliseconds=60), "INFO",
                   'Proxy authentication with IAM authentication failed for user "ledger_svc" with TLS on. '
                   "Reason: Invalid credentials. If you provide an IAM token, make sure to either use the "
                   "correct password or enable IAM authentication.", client=client)
            p.close(t + timedelta(milliseconds=61), client, requested=False)
        else:
            p.healthy_session(t, rng.choice(ips[1:]))
    app = []
    t = START + timedelta(minutes=1)
    for i in range(9):
        t += timedelta(seconds=rng.randrange(5, 15))
        app.append(f"{iso(t)} ERROR reports-worker sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) "
                   f"connection to server at \"{PROXY_HOST}\" (10.0.1.25), port 5432 failed: FATAL:  This RDS "
                   f"Proxy requires TLS connections")
    return p, "".join(line + "\n" for line in app)


def app_logs(rng):
    """Application-side logs for the causes only clients see."""
    t = START

    def stamp(t, style):
        if style == "java":
            return t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"
        if style == "node":
            return iso(t)
        return t.strftime("%Y-%m-%d %H:%M:%S")

    out = {}
    lines = []
    for i in range(30):
        t += timedelta(seconds=rng.randrange(2, 20))
        lines.append(f"{stamp(t, 'java')} INFO  [http-nio-8080-exec-{i % 8}] c.e.reports.ReportController - GET /reports/daily 200")
        if i >= 8:
            lines.append(f"{stamp(t, 'java')} ERROR [HikariPool-1 housekeeper] com.zaxxer.hikari.pool.HikariPool - HikariPool-1 - Exception during pool initialization.")
            lines.append(f"org.postgresql.util.PSQLException: FATAL: This RDS proxy has no credentials for the role reporting. Check the credentials for this role and try again.")
            lines.append("\tat org.postgresql.core.v3.ConnectionFactoryImpl.doAuthentication(ConnectionFactoryImpl.java:693)")
    out["app/no-secret-for-user-java.log"] = lines

    t = START
    lines = []
    for i in range(25):
        t += timedelta(seconds=rng.randrange(1, 9))
        lines.append(f'time="{iso(t)}" level=error msg="db connect failed" service=inventory '
                     f'err="Error 1040 (HY000): Number simultaneous connections exceeded (1000)"')
        if i % 5 == 0:
            lines.append(f'time="{iso(t)}" level=info msg="retrying in 200ms" service=inventory')
    out["app/connection-limit-mysql.log"] = lines

    t = START
    lines = []
    for i in range(12):
        t += timedelta(seconds=rng.randrange(10, 40))
        lines.append(f"{iso(t)} ERROR [orders-worker] Error: connect ETIMEDOUT {PROXY_HOST}:5432")
        lines.append(f"{iso(t)} WARN  [orders-worker] retry {i + 1}/12 in 5s")
    out["app/network-blocked-node.log"] = lines

    t = START
    lines = []
    for i in range(10):
        t += timedelta(seconds=rng.randrange(10, 60))
        lines.append(f"{stamp(t, 'py')} ERROR etl.load: psycopg.OperationalError: consuming input failed: "
                     f"RDS Proxy supports only IAM, MD5, or SCRAM authentication.")
    out["app/unsupported-client-python.log"] = lines

    t = START
    lines = []
    for i in range(14):
        t += timedelta(seconds=rng.randrange(5, 30))
        lines.append(f"{stamp(t, 'py')} ERROR api.db: psycopg2.OperationalError: connection to server at "
                     f"\"{PROXY_HOST}\" (10.0.1.25), port 5432 failed: FATAL:  Request returned an error: "
                     f"database \"orders_prod\" does not exist")
    out["app/db-error-python.log"] = lines

    t = START
    lines = []
    for i in range(16):
        t += timedelta(seconds=rng.randrange(3, 25))
        lines.append(f"{stamp(t, 'py')} ERROR sync: psql: error: connection to server at \"{PROXY_HOST}\" "
                     f"(10.0.1.25), port 5432 failed: FATAL:  This RDS Proxy requires TLS connections")
    out["app/tls-required-psql.log"] = lines
    return out


ONSET_START = datetime(2026, 11, 24, 1, 12, 0, tzinfo=timezone.utc)


def db_lost_after_healthy_hour(rng):
    """An hour of healthy traffic, then at 02:12 the database stops answering the proxy:
    clients still connect, no database connection is opened or released any more, and each
    client waits out ConnectionBorrowTimeout (30 s). A real log starts healthy."""
    p = Proxy(rng, db_ip="10.0.40.12")
    ips = clients(rng, 6, "10.0.42")
    app = []
    t = ONSET_START
    lost = ONSET_START + timedelta(hours=1)
    while t < lost:
        t += timedelta(milliseconds=rng.randrange(3000, 9000))
        p.healthy_session(t, rng.choice(ips))
    t = lost
    while t < lost + timedelta(minutes=6):
        t += timedelta(milliseconds=rng.randrange(3000, 9000))
        client = p.connect(t, rng.choice(ips))
        t_fail = t + timedelta(seconds=30, milliseconds=rng.randrange(1, 20))
        p.close(t_fail + timedelta(milliseconds=4), client, requested=False)
        app.append((t_fail,
                    f'{t_fail.strftime("%Y/%m/%d %H:%M:%S")} orders/repo.go:57: query failed: '
                    f'Error 9501 (HY000): Timed-out waiting to acquire database connection'))
    return p, "".join(line + "\n" for _, line in sorted(app))


def pinning_builds_to_exhaustion(rng):
    """An hour where one session in twenty is pinned; then a release starts setting a session
    variable on every connection: pinned sessions climb for ten minutes, each holding its
    database connection, until the pool is full and clients time out borrowing one. The proxy
    still opens and releases database connections for the sessions that got one."""
    p = Proxy(rng)
    ips = clients(rng, 8, "10.0.44")
    app = []
    reason = ('SQL changed session settings that the proxy doesn\'t track. Consider moving session '
              'configuration to the proxy\'s initialization query. Digest: "set application_name to $1".')
    t = ONSET_START
    release = ONSET_START + timedelta(minutes=50)
    full = release + timedelta(minutes=10)
    while t < full + timedelta(minutes=5):
        t += timedelta(milliseconds=rng.randrange(1500, 4000))
        if t < release:
            p.healthy_session(t, rng.choice(ips), pin_reason=reason if rng.random() < 0.05 else None)
        elif t < full or rng.random() < 0.4:
            p.healthy_session(t, rng.choice(ips), pin_reason=reason)
        else:
            client = p.connect(t, rng.choice(ips))
            t_fail = t + timedelta(seconds=30)
            p.close(t_fail, client, requested=False)
            app.append((t_fail, f"{t_fail.strftime('%Y-%m-%d %H:%M:%S')},{t_fail.microsecond // 1000:03d} "
                                f"ERROR [orders-api] psycopg2.OperationalError: Timed-out waiting to acquire "
                                f"database connection"))
    return p, "".join(line + "\n" for _, line in sorted(app))


def passwords_changed_at_once(rng):
    """Half an hour of healthy traffic for three services, then the database is restored from
    a snapshot whose passwords predate the last rotation: from 01:42 every user's password is
    refused at once."""
    p = Proxy(rng)
    ips = clients(rng, 6, "10.0.46")
    users = ["orders_app", "billing", "reporting"]
    t = ONSET_START
    changed = ONSET_START + timedelta(minutes=30)
    while t < changed + timedelta(minutes=4):
        t += timedelta(milliseconds=rng.randrange(1000, 4000))
        if t < changed:
            p.healthy_session(t, rng.choice(ips))
        else:
            user = rng.choice(users)
            client = p.connect(t, rng.choice(ips))
            p.line(t + timedelta(milliseconds=25), "INFO",
                   f'Proxy authentication with PostgreSQL native password authentication failed for user '
                   f'"{user}" with TLS on. Reason: Invalid credentials.', client=client)
            p.close(t + timedelta(milliseconds=28), client, requested=False)
    return p


def db_failover(rng):
    """Half an hour of healthy traffic, then a Multi-AZ failover: for three minutes the proxy
    reaches no database (no connection opened or released) while clients keep arriving and
    time out borrowing one, then the database is back. A Go service logs the timeouts."""
    p = Proxy(rng, db_ip="10.0.48.20")
    ips = clients(rng, 6, "10.0.49")
    app = []
    t = ONSET_START
    down = ONSET_START + timedelta(minutes=30)
    up = down + timedelta(minutes=3)
    while t < up + timedelta(minutes=5):
        t += timedelta(milliseconds=rng.randrange(2000, 5000))
        if down <= t < up:
            client = p.connect(t, rng.choice(ips))
            t_fail = t + timedelta(seconds=30)
            p.close(t_fail + timedelta(milliseconds=3), client, requested=False)
            app.append((t_fail, f"{iso(t_fail)} level=error msg=\"checkout failed\" "
                                f"err=\"pq: Timed-out waiting to acquire database connection\""))
        else:
            p.healthy_session(t, rng.choice(ips))
    return p, "".join(line + "\n" for _, line in sorted(app))


def client_layouts(rng):
    """Errors in the layouts real clients write: Lambda's text log (tab-separated, the error as
    JSON), a Lambda invocation error object (pretty-printed JSON), a pino NDJSON log, a Spring
    Boot log with a Java stack trace, and RDS DescribeEvents output."""
    out = {}
    t = ONSET_START + timedelta(hours=1)
    host = PROXY_HOST
    lines = []
    for i in range(6):
        t += timedelta(seconds=rng.randrange(20, 90))
        req = f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-8{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}"
        err = {"errorType": "error", "errorMessage": "This RDS Proxy requires TLS connections",
               "length": 86, "name": "error", "severity": "FATAL", "code": "28000",
               "stack": ["error: This RDS Proxy requires TLS connections",
                         "    at Parser.parseErrorMessage (/var/task/node_modules/pg-protocol/dist/parser.js:287:98)",
                         "    at Parser.handlePacket (/var/task/node_modules/pg-protocol/dist/parser.js:126:29)"]}
        lines.append(f"START RequestId: {req} Version: $LATEST")
        lines.append(f"{iso(t)}\t{req}\tERROR\tInvoke Error \t{json.dumps(err, separators=(',', ':'))}")
        lines.append(f"END RequestId: {req}")
        lines.append(f"REPORT RequestId: {req}\tDuration: {rng.randrange(30, 90)}.{rng.randrange(10, 99)} ms\t"
                     f"Billed Duration: {rng.randrange(30, 90)} ms\tMemory Size: 256 MB\tMax Memory Used: 88 MB")
    out["app/lambda-node-tls.log"] = "".join(line + "\n" for line in lines)

    out["app/lambda-invocation-error.json"] = json.dumps({
        "errorType": "Error",
        "errorMessage": f"getaddrinfo ENOTFOUND {PROXY}.proxy-c9akciq32abc.{REGION}.rds.amazonaws.com",
        "trace": [
            f"Error: getaddrinfo ENOTFOUND {PROXY}.proxy-c9akciq32abc.{REGION}.rds.amazonaws.com",
            "    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26)",
        ],
    }, indent=2) + "\n"

    lines = []
    t = ONSET_START + timedelta(hours=1)
    for i in range(30):
        t += timedelta(milliseconds=rng.randrange(800, 4000))
        if i < 8:
            lines.append(json.dumps({"level": 30, "time": ms(t), "pid": 8, "hostname": "orders-api-7d9f",
                                     "req": {"id": i}, "msg": "order saved"}, separators=(",", ":")))
        else:
            lines.append(json.dumps({
                "level": 50, "time": ms(t), "pid": 8, "hostname": "orders-api-7d9f",
                "err": {"type": "Error", "message": "Timed-out waiting to acquire database connection",
                        "stack": "Error: Timed-out waiting to acquire database connection\n"
                                 "    at /app/node_modules/pg/lib/client.js:526:17"},
                "msg": "checkout failed"}, separators=(",", ":")))
    out["app/pino-borrow-timeout.ndjson"] = "".join(line + "\n" for line in lines)

    t = ONSET_START + timedelta(hours=1)
    stack = [
        f"{t.strftime('%Y-%m-%d %H:%M:%S')}.{t.microsecond // 1000:03d}  INFO 1 --- [           main] o.s.b.w.embedded.tomcat.TomcatWebServer  : Tomcat initialized with port 8080 (http)",
        f"{t.strftime('%Y-%m-%d %H:%M:%S')}.{t.microsecond // 1000:03d} ERROR 1 --- [           main] com.zaxxer.hikari.pool.HikariPool        : HikariPool-1 - Exception during pool initialization.",
        "",
        "org.postgresql.util.PSQLException: SSL error: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target",
        "\tat org.postgresql.ssl.MakeSSL.convert(MakeSSL.java:43) ~[postgresql-42.7.3.jar!/:42.7.3]",
        "\tat org.postgresql.core.v3.ConnectionFactoryImpl.enableSSL(ConnectionFactoryImpl.java:584) ~[postgresql-42.7.3.jar!/:42.7.3]",
        "\tat com.zaxxer.hikari.pool.HikariPool.<init>(HikariPool.java:115) ~[HikariCP-5.0.1.jar!/:na]",
        "Caused by: javax.net.ssl.SSLHandshakeException: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target",
        "\tat java.base/sun.security.ssl.Alert.createSSLException(Alert.java:131) ~[na:na]",
        "\t... 45 common frames omitted",
    ]
    out["app/tls-untrusted-java.log"] = "".join(line + "\n" for line in stack)

    t = ONSET_START + timedelta(hours=1)
    events = []
    for i in range(3):
        t += timedelta(minutes=rng.randrange(3, 9))
        events.append({
            "SourceIdentifier": PROXY, "SourceType": "db-proxy",
            "Message": "RDS couldn't provision capacity for the proxy because there aren't enough IP addresses "
                       "available in your subnets. To fix the issue, make sure that your subnets have the minimum "
                       "number of unused IP addresses.",
            "EventCategories": [], "Date": iso(t),
            "SourceArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db-proxy:prx-0f3c2a1b4d5e6f708"})
    out["app/rds-events.json"] = json.dumps({"Events": events}, indent=4) + "\n"
    return out


def bad_inputs():
    rng = random.Random(99)
    full = gzip.compress(healthy(random.Random(5)).text().encode(), mtime=0)
    write("bad/truncated.log.gz", full[: len(full) // 2], "wb")
    write("bad/garbage.bin", bytes(rng.randrange(256) for _ in range(4096)), "wb")
    write("bad/malformed.json", '{"events": [{"timestamp": 1764000000000, "message": "2026-11-24T16:00:00.000Z [INFO] [proxyEndpoint=default] [clientConnection=1] A new client connected from 10.0.0.1:40000."},\n {"timestamp": 17640000')
    write("bad/invalid-utf8.log",
          b"2026-11-24T09:58:01.000Z [INFO] [proxyEndpoint=default] [clientConnection=7] A new client connected from 10.0.0.9:40001.\r\n"
          b"\xff\xfe\x00garbage \xc3\x28 line\r\n"
          b"2026-11-24T09:58:02.000Z [INFO] [proxyEndpoint=default] [clientConnection=7] The client connection closed. Reason: The client requested that the connection close.\r\n",
          "wb")


def main():
    rng = random.Random(20261124)
    write("proxy/healthy-postgres.log", healthy(rng).text())
    incident = secret_access_denied(rng)
    layouts(incident)
    write("proxy/iam-auth-failed-mysql.log", iam_auth_failed_mysql(rng).text())
    write("proxy/password-auth-failed-postgres.log", password_auth_failed_postgres(rng).text())
    write("proxy/session-pinning-postgres.log", session_pinning(rng).text())
    p, app = target_unreachable(rng)
    write("incidents/target-unreachable/proxy.log", p.text())
    write("incidents/target-unreachable/app.log", app)
    p, app = pool_exhausted(rng)
    write("incidents/pool-exhausted/proxy.log", p.text())
    write("incidents/pool-exhausted/app.log", app)
    p, app = two_causes(rng)
    write("incidents/two-causes/proxy.log", p.text())
    write("incidents/two-causes/app.log", app)
    for path, lines in app_logs(rng).items():
        write(path, "".join(line + "\n" for line in lines))
    bad_inputs()
    # Incidents that begin healthy (their own seed, so the samples above stay as they are).
    rng = random.Random(20261203)
    p, app = db_lost_after_healthy_hour(rng)
    write("incidents/db-lost-after-healthy-hour/proxy.log", p.text())
    write("incidents/db-lost-after-healthy-hour/app.log", app)
    p, app = pinning_builds_to_exhaustion(rng)
    write("incidents/pinning-builds-to-exhaustion/proxy.log", p.text())
    write("incidents/pinning-builds-to-exhaustion/app.log", app)
    write("incidents/passwords-changed-at-once/proxy.log", passwords_changed_at_once(rng).text())
    for path, text in client_layouts(rng).items():
        write(path, text)
    p, app = db_failover(rng)
    write("incidents/db-failover/proxy.log", p.text())
    write("incidents/db-failover/app.log", app)


if __name__ == "__main__":
    main()
