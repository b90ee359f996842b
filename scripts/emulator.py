"""Local AWS emulator helpers shared by the demo and the Lambda-runtime test: moto's server
on a free 127.0.0.1 port, the guardrail's resources in it, and sample events retargeted at
a key the emulator created. Nothing here reaches AWS."""

import json
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
TABLE = "kms-guardrail-baselines"

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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, what, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not answer at {url}")


class Moto:
    """moto's server on a free loopback port; stopped on exit from the `with` block."""

    def __enter__(self):
        port = free_port()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.endpoint = f"http://127.0.0.1:{port}"
        wait_http(self.endpoint + "/moto-api/", "moto_server")
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=10)

    def client(self, service):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def environment(self, topic):
        """The guardrail's configuration (README, "Configuration") pointed at this emulator."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "GUARDRAIL_MODE": "enforce", "GUARDRAIL_RULES": str(ROOT / "examples" / "rules.yaml"),
                "GUARDRAIL_ALERT_TOPIC_ARN": topic, "GUARDRAIL_BASELINE_TABLE": TABLE,
                "GUARDRAIL_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/kms-guardrail-GuardrailFunctionRole"}

    def guardrail_resources(self):
        """The alert topic (with an SQS queue subscribed, to read alerts back) and the
        baseline table; returns (topic ARN, queue URL)."""
        sns, sqs, ddb = self.client("sns"), self.client("sqs"), self.client("dynamodb")
        topic = sns.create_topic(Name="kms-guardrail-alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "key_arn", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "key_arn", "KeyType": "HASH"}])
        return topic, queue

    def alerts(self, queue):
        """The SNS notifications delivered so far: (subject, attributes, body)."""
        messages = self.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        out = []
        for m in messages:
            note = json.loads(m["Body"])
            attrs = {k: v["Value"] for k, v in note.get("MessageAttributes", {}).items()}
            out.append((note["Subject"], attrs, json.loads(note["Message"])))
        return out


def event(sample, key_id, policy=None):
    """A sample from events/, retargeted at `key_id` in moto's account, carrying `policy`."""
    text = (ROOT / "events" / sample).read_text()
    text = text.replace("111122223333", ACCOUNT).replace("1234abcd-12ab-34cd-56ef-1234567890ab", key_id)
    ev = json.loads(text)
    if policy is not None and "policy" in ev["detail"]["requestParameters"]:
        ev["detail"]["requestParameters"]["policy"] = json.dumps(policy)
    return ev


def sids(policy_text):
    return [s.get("Sid", "(no Sid)") for s in json.loads(policy_text)["Statement"]]
