"""The kms-guardrail demo, end to end against a local AWS emulator (moto's server).

Starts moto on a free 127.0.0.1 port, creates an alert topic (with an SQS queue subscribed
to read the alerts back), a baseline table and a key with a sane policy; lets the guardrail
record that policy as the key's baseline; then plays an operator who opens the key to the
world, replays the CloudTrail event through the guardrail (`kms-guardrail replay`, the same
handler as the Lambda), and shows the findings, the revert, the policy before and after,
and the alert. Stops moto on the way out. Exit 0 when the key was reverted and alerted.

Run through scripts/demo, which installs what this needs.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account
CLI = ROOT / "target" / "debug" / "kms-guardrail"

SANE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow use of the key", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/App"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"},
    ],
}
PUBLIC = {**SANE, "Statement": SANE["Statement"] + [
    {"Sid": "temporary-debug", "Effect": "Allow", "Principal": {"AWS": "*"},
     "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"},
]}


def bold(text):
    return f"\033[1m{text}\033[0m" if sys.stdout.isatty() else text


def step(text):
    print(f"\n{bold('==> ' + text)}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    port = free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            return moto, endpoint
        except OSError:
            time.sleep(0.1)
    moto.kill()
    raise SystemExit("demo: moto_server did not start")


def event(sample, key_id, policy):
    text = (ROOT / "events" / sample).read_text()
    text = text.replace("111122223333", ACCOUNT).replace("1234abcd-12ab-34cd-56ef-1234567890ab", key_id)
    ev = json.loads(text)
    ev["detail"]["requestParameters"]["policy"] = json.dumps(policy)
    return ev


def replay(env, ev):
    run = subprocess.run([str(CLI), "replay", "--event", "-"], input=json.dumps(ev), text=True,
                         capture_output=True, env=env)
    if run.returncode != 0:
        print(run.stderr, file=sys.stderr)
        raise SystemExit(f"demo: replay failed with exit status {run.returncode}")
    return json.loads(run.stdout)


def sids(policy_text):
    return [s.get("Sid", "(no Sid)") for s in json.loads(policy_text)["Statement"]]


def main():
    moto, endpoint = start_moto()
    try:
        aws = dict(endpoint_url=endpoint, region_name=REGION,
                   aws_access_key_id="testing", aws_secret_access_key="testing")
        kms, sns, sqs, ddb = (boto3.client(n, **aws) for n in ("kms", "sns", "sqs", "dynamodb"))

        step(f"AWS emulator (moto) up at {endpoint}; creating the alert topic, baseline table and a key")
        topic = sns.create_topic(Name="kms-guardrail-alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        ddb.create_table(TableName="kms-guardrail-baselines", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "key_arn", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "key_arn", "KeyType": "HASH"}])
        key = kms.create_key(Policy=json.dumps(SANE), Description="demo data key")["KeyMetadata"]
        print(f"key {key['Arn']}\npolicy statements: {sids(json.dumps(SANE))}")

        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION,
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "GUARDRAIL_MODE": "enforce", "GUARDRAIL_RULES": str(ROOT / "examples" / "rules.yaml"),
               "GUARDRAIL_ALERT_TOPIC_ARN": topic, "GUARDRAIL_BASELINE_TABLE": "kms-guardrail-baselines",
               "RUST_LOG": "warn"}

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
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        for m in messages:
            note = json.loads(m["Body"])
            attrs = {k: v["Value"] for k, v in note.get("MessageAttributes", {}).items()}
            body = json.loads(note["Message"])
            print(f"subject:    {note['Subject']}\nattributes: {attrs}")
            print(f"actor:      {body['actor']['arn']} from {body['event']['source_ip']}")
            print(f"outcome:    {body['outcome']}")

        reverted = out["action"] == "reverted" and sids(now) == sids(json.dumps(SANE))
        alerted = any(json.loads(json.loads(m["Body"])["Message"])["action"] == "reverted" for m in messages)
        print()
        if reverted and alerted:
            print(bold("demo: the public grant was reverted and the alert was sent"))
            return 0
        print(bold("demo: expected a revert and an alert"), file=sys.stderr)
        return 1
    finally:
        moto.terminate()
        moto.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
