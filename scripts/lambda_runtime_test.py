"""The Lambda binary inside the real Lambda runtime protocol: cargo-lambda's local emulator
(`cargo lambda watch`) runs `guardrail-lambda`, `cargo lambda invoke` sends it the files of
events/ (retargeted at a key in moto), and the outcome is checked in moto — policy reverted,
alert published, baseline recorded, a CreateGrant event's grant judged, failed calls and the
guardrail's own changes left alone —
and the schedule's sweep request runs a sweep and is idempotent.

Also measures, for the README and the notes, the binary's time from process start to its
first runtime API request (init: configuration, SDK clients, rules) and its peak RSS.
Prints "N passed, M failed"; exit status 0 only when all passed. Run by scripts/test.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emulator import ACCOUNT, PUBLIC, ROOT, SANE, Moto, event, free_port, sids, wait_http

FUNCTION = "guardrail-lambda"
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + detail}")


def invoke(port, path):
    run = subprocess.run(
        ["cargo", "lambda", "invoke", FUNCTION, "--data-file", str(path), "-A", "127.0.0.1", "-P", str(port),
         "--output-format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        return None, run.stderr.strip()
    return json.loads(run.stdout), ""


def lambda_env(env, api_port):
    """`env` plus what the Lambda service gives a function's process."""
    return {**env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api_port}", "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST"}


def measure_events(env, events, binary=ROOT / "target" / "release" / FUNCTION, handed_out=None):
    """Runs `binary` as Lambda does, against a local runtime API that hands it `events` one
    after the other; returns each event's latency in milliseconds (from handing it out to
    receiving its response) and each response. With `handed_out` (a list), appends to it the
    `time.monotonic()` at which each event was handed out, in order."""
    import http.server
    import queue
    import threading

    pending = list(events)
    responses = queue.Queue()
    handed = {}

    class Api(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if not pending:
                time.sleep(30)
                return
            body = json.dumps(pending.pop(0)).encode()
            request_id = f"r{len(events) - len(pending)}"
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            handed[request_id] = time.monotonic()
            if handed_out is not None:
                handed_out.append(handed[request_id])
            self.wfile.write(body)

        def do_POST(self):
            took = time.monotonic() - handed[self.path.split("/")[-2]]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            responses.put((took * 1000, json.loads(body or b"null")))

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proc = subprocess.Popen([str(binary)], env=lambda_env(env, server.server_port),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return [responses.get(timeout=60) for _ in events]
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()


def measure_init(env, binary=ROOT / "target" / "debug" / FUNCTION):
    """Starts `binary` against a local runtime API that never answers the first `next` call;
    returns the time until that call arrives (init: configuration, SDK clients, rules) in
    milliseconds, and the peak RSS in KiB."""
    import http.server
    import threading

    arrived = threading.Event()

    class Api(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            arrived.set()
            time.sleep(2)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    start = time.monotonic()
    proc = subprocess.Popen([str(binary)], env=lambda_env(env, server.server_port),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    arrived.wait(timeout=30)
    ready_ms = (time.monotonic() - start) * 1000
    rss_kb = 0
    try:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss_kb = int(line.split()[1])
    except OSError:
        pass
    proc.kill()
    proc.wait()
    server.shutdown()
    return ready_ms, rss_kb


def main():
    workdir = Path(tempfile.mkdtemp(prefix="kms-guardrail-runtime-"))  # outside the tree: watch rebuilds on writes inside it
    watch = None
    try:
        with Moto() as moto:
            kms = moto.client("kms")
            topic, queue = moto.guardrail_resources()
            key = kms.create_key(Policy=json.dumps(SANE))["KeyMetadata"]
            env = moto.environment(topic)
            (workdir / "function.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))

            # Built before the emulator starts, not by it on the first invocation: a build
            # that fails there (a full disk, once) only showed as the invocation timing out
            # after 600 s; here it stops the test at once with cargo's own error.
            subprocess.run(["cargo", "build", "--locked", "--bin", FUNCTION], cwd=ROOT, check=True)
            port = free_port()
            log = open(workdir / "watch.log", "w")
            watch = subprocess.Popen(
                ["cargo", "lambda", "watch", "-A", "127.0.0.1", "-P", str(port), "--env-file", str(workdir / "function.env")],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            wait_http(f"http://127.0.0.1:{port}/", "cargo lambda watch", seconds=300)

            def send(sample, policy):
                path = workdir / sample
                path.write_text(json.dumps(event(sample, key["KeyId"], policy)))
                return invoke(port, path)

            out, err = send("put-key-policy-compliant.json", SANE)
            check("a compliant policy is recorded as the baseline",
                  out is not None and out["action"] == "baseline-recorded", err or str(out))
            item = moto.client("dynamodb").get_item(TableName="kms-guardrail-baselines",
                                                    Key={"key_arn": {"S": key["Arn"]}}).get("Item", {})
            check("the baseline is in DynamoDB", item.get("policy", {}).get("S") == json.dumps(SANE), str(item))

            kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(PUBLIC))
            out, err = send("put-key-policy-public.json", PUBLIC)
            check("a public policy is reverted", out is not None and out["action"] == "reverted", err or str(out))
            now = kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
            check("the key holds its last known-good policy again", sids(now) == sids(json.dumps(SANE)), now)
            alerts = moto.alerts(queue)
            check("the alert was published with its attributes",
                  any(a == {"severity": "critical", "action": "reverted", "account": ACCOUNT} for _, a, _ in alerts),
                  str(alerts))

            kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(PUBLIC))
            out, err = send("put-key-policy-by-guardrail.json", PUBLIC)
            check("the guardrail's own change is not remediated",
                  out is not None and out["action"] == "alerted", err or str(out))
            out, err = send("put-key-policy-failed.json", PUBLIC)
            check("a failed call is ignored", out is not None and out["status"] == "ignored", err or str(out))
            # A grant to a foreign account: the example rules trust an organization whose
            # accounts a single-account guardrail cannot know, so it alerts and never revokes.
            grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal="arn:aws:iam::999988887777:role/Reader",
                                     Operations=["Decrypt"])["GrantId"]
            created = event("create-grant-foreign-account.json", key["KeyId"])
            created["detail"]["responseElements"]["grantId"] = grant
            path = workdir / "create-grant.json"
            path.write_text(json.dumps(created))
            out, err = invoke(port, path)
            check("a CreateGrant event's foreign grant is judged and alerted, not revoked",
                  out is not None and out["status"] == "violating" and out["action"] == "alerted"
                  and out["grants"][0]["grant"]["GrantId"] == grant, err or str(out))
            listed = [g["GrantId"] for g in kms.list_grants(KeyId=key["KeyId"])["Grants"]]
            check("the grant is still there", listed == [grant], str(listed))
            kms.revoke_grant(KeyId=key["KeyId"], GrantId=grant)
            bad = workdir / "not-an-event.json"
            bad.write_text('{"hello": "world"}')
            out, err = invoke(port, bad)
            check("a non-event is refused with a classified error", out is None and "InvalidEvent" in err, err or str(out))

            # The schedule's input: the key is public again (the guardrail's own change above).
            sweep = workdir / "sweep-start.json"
            sweep.write_text('{"sweep": "start", "id": "2026-11-23T03:00:00Z"}')
            out, err = invoke(port, sweep)
            summary = (out or {}).get("summary") or {}
            check("a scheduled sweep runs to the end and reverts the public key",
                  out is not None and out["end"] == "finished" and summary.get("keys_seen") == 1
                  and summary.get("violating") == 1 and summary.get("remediated") == 1, err or str(out))
            now = kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
            check("the swept key holds its last known-good policy", sids(now) == sids(json.dumps(SANE)), now)
            alerts = moto.alerts(queue)
            check("the sweep's summary alert was published",
                  any(a.get("action") == "sweep-summary" for _, a, _ in alerts), str(alerts))
            out, err = invoke(port, sweep)
            check("the same schedule occurrence delivered again does nothing",
                  out is not None and out["end"] == "nothing-to-do", err or str(out))

            ready_ms, rss_kb = measure_init(env)
            print(f"measured: process start to first runtime API request {ready_ms:.1f} ms (debug build), peak RSS {rss_kb / 1024:.1f} MiB")
    finally:
        if watch is not None:
            os.killpg(watch.pid, signal.SIGTERM)
            watch.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
