"""The kms-guardrail demo, end to end against a local AWS emulator (moto's server).

Starts moto on a free 127.0.0.1 port, creates an alert topic (with an SQS queue subscribed
to read the alerts back), a baseline table and a key with a sane policy; lets the guardrail
record that policy as the key's baseline; then plays an operator who opens the key to the
world, replays the CloudTrail event through the guardrail (`kms-guardrail replay`, the same
handler as the Lambda), and shows the findings, the revert, the policy before and after,
and the alert. Then a second key that was opened before the guardrail existed (no event
will ever come): the sweep (`kms-guardrail sweep --enforce`, the scheduled function's code)
finds and reverts it and sends its summary. Stops moto on the way out. Exit 0 when both
keys were reverted and alerted.

Run through scripts/demo, which installs what this needs.
"""

import json
import os
import subprocess
import sys

from emulator import PUBLIC, ROOT, SANE, Moto, event, sids

CLI = ROOT / "target" / "debug" / "kms-guardrail"


def bold(text):
    return f"\033[1m{text}\033[0m" if sys.stdout.isatty() else text


def step(text):
    print(f"\n{bold('==> ' + text)}")


def replay(env, ev):
    run = subprocess.run([str(CLI), "replay", "--event", "-"], input=json.dumps(ev), text=True,
                         capture_output=True, env=env)
    if run.returncode != 0:
        print(run.stderr, file=sys.stderr)
        raise SystemExit(f"demo: replay failed with exit status {run.returncode}")
    return json.loads(run.stdout)


def main():
    with Moto() as moto:
        kms = moto.client("kms")

        step(f"AWS emulator (moto) up at {moto.endpoint}; creating the alert topic, baseline table and a key")
        topic, queue = moto.guardrail_resources()
        key = kms.create_key(Policy=json.dumps(SANE), Description="demo data key")["KeyMetadata"]
        print(f"key {key['Arn']}\npolicy statements: {sids(json.dumps(SANE))}")
        env = {**os.environ, **moto.environment(topic), "RUST_LOG": "warn"}

        step("The guardrail sees the key's creation and records its policy as the last known-good")
        out = replay(env, event("put-key-policy-compliant.json", key["KeyId"], SANE))
        print(f"status: {out['status']}, action: {out['action']}")

        step("An operator opens the key to the world (PutKeyPolicy with Principal \"*\")")
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(PUBLIC))
        print(f"policy statements now: {sids(json.dumps(PUBLIC))}")

        step("CloudTrail's PutKeyPolicy event reaches the guardrail (kms-guardrail replay)")
        out = replay(env, event("put-key-policy-public.json", key["KeyId"], PUBLIC))
        print(f"status: {out['status']}, action: {out['action']} — {out['message']}")
        for f in out["findings"]:
            print(f"  {f['severity'].upper():8} {f['rule']:20} statement {f['statement']} ({f['sid']}): {f['message']}")
        print(f"policy before: {sids(out['policy_before'])}")
        print(f"policy after:  {sids(out['policy_after'])}")
        now = kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
        print(f"policy in KMS: {sids(now)}")

        step("The alert, as a subscriber of the topic receives it")
        alerts = moto.alerts(queue)
        for subject, attrs, body in alerts:
            print(f"subject:    {subject}\nattributes: {attrs}")
            print(f"actor:      {body['actor']['arn']} from {body['event']['source_ip']}")
            print(f"outcome:    {body['outcome']}")

        reverted = out["action"] == "reverted" and sids(now) == sids(json.dumps(SANE))
        alerted = any(body["action"] == "reverted" for _, _, body in alerts)

        step("A key opened to the world before the guardrail existed: no event will ever come")
        old = kms.create_key(Policy=json.dumps(PUBLIC), Description="legacy key")["KeyMetadata"]
        print(f"key {old['Arn']}\npolicy statements: {sids(json.dumps(PUBLIC))}")

        step("The scheduled sweep checks every key (kms-guardrail sweep --enforce)")
        run = subprocess.run([str(CLI), "sweep", "--enforce"], text=True, capture_output=True, env=env)
        if run.returncode not in (0, 1):
            print(run.stderr, file=sys.stderr)
            raise SystemExit(f"demo: the sweep failed with exit status {run.returncode}")
        summary = json.loads(run.stdout)
        print(f"keys seen: {summary['keys_seen']}, compliant: {summary['compliant']}, "
              f"violating: {summary['violating']}, reverted: {summary['remediated']}, failed: {summary['failed']}")
        legacy = kms.get_key_policy(KeyId=old["KeyId"], PolicyName="default")["Policy"]
        print(f"legacy key's policy in KMS: {sids(legacy)}")
        swept = summary["remediated"] == 1 and "temporary-debug" not in sids(legacy)
        summaries = [subject for subject, attrs, _ in moto.alerts(queue) if attrs.get("action") == "sweep-summary"]
        for subject in summaries:
            print(f"summary alert: {subject}")

        print()
        if reverted and alerted and swept and summaries:
            print(bold("demo: both public grants were reverted and the alerts were sent"))
            return 0
        print(bold("demo: expected two reverts and their alerts"), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
