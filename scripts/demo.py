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

With --member, organization mode instead: a hub (moto's default account) and a member
account; the member's key is opened to the world, CloudTrail's event on the member's default
bus is forwarded by the rule of deploy/member-forwarding.yaml to the hub's bus, whose rule
(template.yaml's HubRule) delivers it; the guardrail assumes the member role, reverts the key
in the member account, and the hub's topic receives an alert naming the member account.

Run through scripts/demo, which installs what this needs.
"""

import json
import os
import subprocess
import sys

import yaml

from emulator import ACCOUNT, PUBLIC, REGION, ROOT, SANE, Moto, event, sids

MEMBER = "111111111111"
MEMBER_ROLE = "KmsGuardrailMember"

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
        env = {**os.environ, **moto.environment(topic), "RUST_LOG": "warn", "GUARDRAIL_SECURITY_HUB": "on"}

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

        step("The findings, in the key's account's Security Hub")
        findings = moto.client("securityhub").get_findings()["Findings"]
        for f in findings:
            print(f"{f['Severity']['Label']:8} {f['GeneratorId']:32} {f['RecordState']} "
                  f"{f['Compliance']['Status']}, action {f['ProductFields']['kms-guardrail/action']}")
        print(f"resource:   {findings[0]['Resources'][0]['Type']} {findings[0]['Resources'][0]['Id']}" if findings else "none")

        reverted = out["action"] == "reverted" and sids(now) == sids(json.dumps(SANE))
        alerted = any(body["action"] == "reverted" for _, _, body in alerts)
        alerted = alerted and any(f["ProductFields"]["kms-guardrail/action"] == "reverted" for f in findings)

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
        states = [f["RecordState"] for f in moto.client("securityhub").get_findings()["Findings"]]
        print(f"Security Hub: {states.count('ACTIVE')} active findings (the legacy key's), "
              f"{states.count('ARCHIVED')} archived (the first key complies again)")

        print()
        if reverted and alerted and swept and summaries:
            print(bold("demo: both public grants were reverted and the alerts were sent"))
            return 0
        print(bold("demo: expected two reverts and their alerts"), file=sys.stderr)
        return 1


def template_value(path, *keys):
    """A value of a CloudFormation template (intrinsic tags read as plain values)."""
    class Loader(yaml.SafeLoader):
        pass
    Loader.add_multi_constructor("!", lambda loader, suffix, node: (
        loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node) if isinstance(node, yaml.MappingNode)
        else loader.construct_scalar(node)))
    value = yaml.load((ROOT / path).read_text(), Loader=Loader)
    for k in keys:
        value = value[k]
    return value


def in_account(moto, service, account):
    """A client whose calls land in `account` (STS AssumeRole, as the guardrail does)."""
    creds = moto.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/DemoOperator", RoleSessionName="operator")["Credentials"]
    import boto3
    return boto3.client(service, endpoint_url=moto.endpoint, region_name=REGION,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def member_demo():
    with Moto() as moto:
        step(f"AWS emulator (moto) up at {moto.endpoint}: hub account {ACCOUNT}, member account {MEMBER}")
        topic, queue = moto.guardrail_resources()
        hub_events, sqs = moto.client("events"), moto.client("sqs")
        bus = hub_events.create_event_bus(Name="kms-guardrail-hub")["EventBusArn"]
        hub_events.put_rule(Name="HubRule", EventBusName="kms-guardrail-hub", EventPattern=json.dumps(
            template_value("template.yaml", "Resources", "HubRule", "Properties", "EventPattern")))
        standin = sqs.create_queue(QueueName="guardrail-function")["QueueUrl"]
        hub_events.put_targets(Rule="HubRule", EventBusName="kms-guardrail-hub", Targets=[
            {"Id": "function", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:guardrail-function"}])
        print(f"hub bus {bus}; its rule delivers to a queue standing in for the function (moto has no Lambda targets)")

        member_events = in_account(moto, "events", MEMBER)
        member_events.put_rule(Name="ForwardKeyPolicyEvents", EventPattern=json.dumps(template_value(
            "deploy/member-forwarding.yaml", "Resources", "ForwardKeyPolicyEvents", "Properties", "EventPattern")))
        member_events.put_targets(Rule="ForwardKeyPolicyEvents", Targets=[
            {"Id": "hub", "Arn": bus, "RoleArn": f"arn:aws:iam::{MEMBER}:role/forwarding"}])
        print(f"member {MEMBER}: deploy/member-forwarding.yaml's rule on its default bus, to the hub bus")

        kms = in_account(moto, "kms", MEMBER)
        sane = json.loads(json.dumps(SANE).replace(ACCOUNT, MEMBER))
        public = json.loads(json.dumps(PUBLIC).replace(ACCOUNT, MEMBER))
        key = kms.create_key(Policy=json.dumps(sane), Description="member data key")["KeyMetadata"]
        print(f"member key {key['Arn']}")

        step("An operator in the member account opens the key to the world")
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(public))
        ev = event("put-key-policy-public.json", key["KeyId"], public)
        ev = json.loads(json.dumps(ev).replace(ACCOUNT, MEMBER))
        member_events.put_events(Entries=[{"Source": ev["source"], "DetailType": ev["detail-type"],
                                           "Detail": json.dumps(ev["detail"])}])
        print("CloudTrail's PutKeyPolicy event is put on the member's default bus")

        step("The hub rule delivers the forwarded event; the guardrail assumes the member role")
        messages = sqs.receive_message(QueueUrl=standin, MaxNumberOfMessages=10).get("Messages", [])
        if len(messages) != 1:
            raise SystemExit(f"demo: expected one forwarded event at the hub, got {len(messages)}")
        forwarded = json.loads(messages[0]["Body"])
        print(f"forwarded event: key account {forwarded['detail']['recipientAccountId']}, "
              f"region {forwarded['detail']['awsRegion']}")
        env = {**os.environ, **moto.environment(topic), "RUST_LOG": "warn", "GUARDRAIL_MEMBER_ROLE": MEMBER_ROLE}
        out = replay(env, forwarded)
        print(f"status: {out['status']}, action: {out['action']} — {out['message']}")
        now = kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
        print(f"policy in the member's KMS: {sids(now)}")

        step("The alert at the hub's topic names the member account")
        alerts = moto.alerts(queue)
        for subject, attrs, body in alerts:
            print(f"subject:    {subject}\nattributes: {attrs}")
        reverted = out["action"] == "reverted" and "temporary-debug" not in sids(now)
        named = any(attrs.get("account") == MEMBER for _, attrs, _ in alerts)
        print()
        if reverted and named:
            print(bold("demo: the member account's key was reverted there and the hub was alerted"))
            return 0
        print(bold("demo: expected a revert in the member account and an alert naming it"), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(member_demo() if "--member" in sys.argv[1:] else main())
