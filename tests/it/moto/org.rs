//! Organization mode against moto: a hub (moto's default account) and two member accounts,
//! reached the way the guardrail reaches them in AWS — STS `AssumeRole` into the member role,
//! whose credentials moto lands in that account. A member's event forwarded to the hub
//! (envelope rewritten to the hub) is remediated in the member and nowhere else; the
//! guardrail's own member-role session is not remediated; a sweep of many accounts and
//! regions, and of the organization's accounts, finds and reverts keys in each; and the
//! forwarding path itself — the member template's rule on a member's default bus, the hub
//! template's bus and rule — carries an event from member to hub and on to the handler; a
//! member key's grant to a sibling account of the trusted organization stays, one outside it
//! is revoked.

use super::grants::create_grant;
use super::{
    ACCOUNT, REGION, app, baseline_table, config, event_in, fresh, good_policy_in, new_key,
    notifications, policy_of, public_policy_in, root, sdk, statements, sweep_command,
    topic_with_queue,
};
use aws_config::{Region, SdkConfig};
use aws_sdk_kms::config::Credentials;
use aws_sdk_kms::types::GrantOperation;
use kms_guardrail::app::App;
use kms_guardrail::app::org::Scope;
use kms_guardrail::guardrail::{Action, Mode, Status};
use serde_json::Value;

pub(super) const MEMBER_A: &str = "111111111111";
pub(super) const MEMBER_B: &str = "222222222222";
pub(super) const MEMBER_ROLE: &str = "KmsGuardrailMember";
pub(super) const OTHER_REGION: &str = "eu-west-1";

/// The SDK configuration of `account` in `region`: credentials of a role assumed there
/// (moto lands the calls made with them in that account).
pub(super) async fn sdk_in(account: &str, region: &str) -> SdkConfig {
    let hub = sdk().await;
    let out = aws_sdk_sts::Client::new(&hub)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/TestSetup"))
        .role_session_name("test-setup")
        .send()
        .await
        .expect("assume role");
    let c = out.credentials().expect("credentials");
    hub.to_builder()
        .region(Region::new(region.to_owned()))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_owned()),
                None,
                "test-setup",
            )),
        )
        .build()
}

/// The hub app in enforce mode in organization mode, alerting to a topic in the hub;
/// returns it and the queue the topic delivers to.
async fn hub_app(hub: &SdkConfig) -> (App, String) {
    let (topic, queue) = topic_with_queue(hub).await;
    let mut cfg = config(Mode::Enforce);
    cfg.topic_arn = Some(topic);
    cfg.baseline_table = Some(baseline_table(hub).await);
    cfg.member_role = Some(MEMBER_ROLE.to_owned());
    (app(cfg, hub).await, queue)
}

/// `event` as the hub bus delivers it: forwarding rewrites the envelope to the hub's
/// account and region.
pub(super) fn forwarded(mut event: Value) -> Value {
    event["account"] = Value::String(ACCOUNT.to_owned());
    event["region"] = Value::String(REGION.to_owned());
    event
}

pub(super) fn is_public(policy: &str) -> bool {
    statements(policy).iter().any(|s| s == "backup")
}

#[tokio::test]
async fn a_forwarded_public_policy_in_a_member_is_reverted_there_and_nowhere_else() {
    let _serial = fresh().await;
    let hub = sdk().await;
    let a = sdk_in(MEMBER_A, REGION).await;
    let b = sdk_in(MEMBER_B, REGION).await;
    let target = new_key(&a, &public_policy_in(MEMBER_A)).await;
    let bystander = new_key(&a, &public_policy_in(MEMBER_A)).await;
    let in_b = new_key(&b, &public_policy_in(MEMBER_B)).await;
    let in_hub = new_key(&hub, &public_policy_in(ACCOUNT)).await;
    assert!(target.contains(&format!(":{MEMBER_A}:key/")), "{target}");
    let (app, queue) = hub_app(&hub).await;

    let event = forwarded(event_in(
        "put-key-policy-public.json",
        MEMBER_A,
        &target,
        &public_policy_in(MEMBER_A),
    ));
    let out = app.invoke(&event).await.expect("handled");

    assert_eq!(
        (out.status, out.action, out.verified),
        (Status::Violating, Action::Reverted, Some(true)),
        "{}",
        out.message
    );
    assert_eq!(out.key_arn.as_deref(), Some(target.as_str()));
    assert_eq!(
        statements(&policy_of(&a, &target).await),
        ["Enable IAM User Permissions", "App"],
        "reverted in the member"
    );
    assert!(
        is_public(&policy_of(&a, &bystander).await),
        "other keys untouched"
    );
    assert!(
        is_public(&policy_of(&b, &in_b).await),
        "the other member untouched"
    );
    assert!(
        is_public(&policy_of(&hub, &in_hub).await),
        "the hub untouched"
    );

    let alerts = notifications(&hub, &queue).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["MessageAttributes"]["account"]["Value"], MEMBER_A);
    assert!(
        alerts[0]["Subject"]
            .as_str()
            .expect("subject")
            .contains(MEMBER_A)
    );
    let body: Value =
        serde_json::from_str(alerts[0]["Message"].as_str().expect("message")).expect("JSON");
    assert_eq!(body["account"], MEMBER_A);
    assert_eq!(body["region"], REGION);
}

#[tokio::test]
async fn the_guardrails_own_member_role_session_is_not_remediated() {
    let _serial = fresh().await;
    let hub = sdk().await;
    let a = sdk_in(MEMBER_A, REGION).await;
    let key = new_key(&a, &public_policy_in(MEMBER_A)).await;
    let (app, _queue) = hub_app(&hub).await;
    let mut event = forwarded(event_in(
        "put-key-policy-public.json",
        MEMBER_A,
        &key,
        &public_policy_in(MEMBER_A),
    ));
    let identity = &mut event["detail"]["userIdentity"];
    identity["arn"] = Value::String(format!(
        "arn:aws:sts::{MEMBER_A}:assumed-role/{MEMBER_ROLE}/kms-guardrail"
    ));
    identity["sessionContext"]["sessionIssuer"]["arn"] =
        Value::String(format!("arn:aws:iam::{MEMBER_A}:role/{MEMBER_ROLE}"));

    let out = app.invoke(&event).await.expect("handled");

    assert_eq!(out.action, Action::Alerted, "{}", out.message);
    assert!(out.message.contains("guardrail's own"), "{}", out.message);
    assert!(is_public(&policy_of(&a, &key).await), "not written");
}

#[tokio::test]
async fn a_sweep_of_many_accounts_and_regions_reverts_keys_in_each() {
    let _serial = fresh().await;
    let hub = sdk().await;
    let mut public = Vec::new();
    let mut compliant = Vec::new();
    for account in [ACCOUNT, MEMBER_A, MEMBER_B] {
        for region in [REGION, OTHER_REGION] {
            let s = if account == ACCOUNT {
                hub.to_builder().region(Region::new(region)).build()
            } else {
                sdk_in(account, region).await
            };
            public.push((s.clone(), new_key(&s, &public_policy_in(account)).await));
            compliant.push((s.clone(), new_key(&s, &good_policy_in(account)).await));
        }
    }
    let (app, queue) = hub_app(&hub).await;
    let scope = Scope {
        accounts: vec![ACCOUNT.to_owned(), MEMBER_A.to_owned(), MEMBER_B.to_owned()],
        regions: vec![REGION.to_owned(), OTHER_REGION.to_owned()],
        organization: false,
    };

    let units = app.units(&scope).await.expect("units");
    assert_eq!(units.len(), 6);
    let summary = app
        .sweep_units("org-test", &units, 4, &mut |_| {})
        .await
        .expect("the sweep runs");

    assert_eq!(summary.totals.keys_seen, 12, "{summary:?}");
    assert_eq!(
        (summary.totals.violating, summary.totals.remediated),
        (6, 6)
    );
    assert!(summary.not_covered.is_empty() && summary.failed_units.is_empty());
    for account in [ACCOUNT, MEMBER_A, MEMBER_B] {
        assert_eq!(summary.accounts[account].remediated, 2, "{account}");
    }
    for (s, key) in &public {
        assert!(!is_public(&policy_of(s, key).await), "{key} reverted");
    }
    for (s, key) in &compliant {
        assert_eq!(statements(&policy_of(s, key).await).len(), 2, "{key}");
    }
    let alerts = notifications(&hub, &queue).await;
    let summaries: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["MessageAttributes"]["action"]["Value"] == "sweep-summary")
        .collect();
    assert_eq!(summaries.len(), 1, "one combined summary alert");
    let body: Value =
        serde_json::from_str(summaries[0]["Message"].as_str().expect("message")).expect("JSON");
    assert_eq!(body["totals"]["remediated"], 6);
    assert_eq!(body["accounts"][MEMBER_B]["violating"], 2);
}

/// An organization whose management account is moto's default one, with two new member
/// accounts; returns its id and the members' ids.
async fn organization_with_members(hub: &SdkConfig) -> (String, Vec<String>) {
    let org = aws_sdk_organizations::Client::new(hub);
    let id = org
        .create_organization()
        .send()
        .await
        .expect("organization")
        .organization()
        .and_then(|o| o.id())
        .expect("organization id")
        .to_owned();
    let mut members = Vec::new();
    for name in ["workloads", "data"] {
        let created = org
            .create_account()
            .account_name(name)
            .email(format!("{name}@example.com"))
            .send()
            .await
            .expect("account");
        members.push(
            created
                .create_account_status()
                .and_then(|s| s.account_id())
                .expect("account id")
                .to_owned(),
        );
    }
    (id, members)
}

#[tokio::test]
async fn organization_covers_the_organizations_active_accounts() {
    let _serial = fresh().await;
    let hub = sdk().await;
    let (_, members) = organization_with_members(&hub).await;
    let mut keys = Vec::new();
    for account in &members {
        let s = sdk_in(account, REGION).await;
        keys.push((s.clone(), new_key(&s, &public_policy_in(account)).await));
    }
    let (app, _queue) = hub_app(&hub).await;

    let units = app
        .units(&Scope {
            organization: true,
            ..Scope::default()
        })
        .await
        .expect("units");
    let accounts: Vec<&str> = units.iter().map(|u| u.account.as_str()).collect();
    for account in members.iter().map(String::as_str).chain([ACCOUNT]) {
        assert!(accounts.contains(&account), "{account} in {accounts:?}");
    }
    let summary = app
        .sweep_units("org-test", &units, 4, &mut |_| {})
        .await
        .expect("the sweep runs");
    assert_eq!(summary.totals.remediated, 2, "{summary:?}");
    for (s, key) in &keys {
        assert!(!is_public(&policy_of(s, key).await), "{key} reverted");
    }
}

/// The value at `path` in a template (a rule's event pattern), as JSON.
fn pattern(template: &str, path: &[&str]) -> String {
    let text = std::fs::read_to_string(root().join(template)).expect("template");
    let mut v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
    for step in path {
        v = v[*step].clone();
    }
    assert!(!v.is_null(), "{template}: no {path:?}");
    serde_json::to_string(&v).expect("pattern as JSON")
}

#[tokio::test]
async fn the_member_rule_forwards_to_the_hub_bus_whose_rule_reaches_the_guardrail() {
    let _serial = fresh().await;
    let hub = sdk().await;
    let a = sdk_in(MEMBER_A, REGION).await;
    let key = new_key(&a, &public_policy_in(MEMBER_A)).await;
    let hub_events = aws_sdk_eventbridge::Client::new(&hub);
    let member_events = aws_sdk_eventbridge::Client::new(&a);
    let sqs = aws_sdk_sqs::Client::new(&hub);

    // The hub: its bus, and its rule with the hub template's pattern. moto has no Lambda
    // targets: a queue stands in for the function.
    let bus = hub_events
        .create_event_bus()
        .name("kms-guardrail")
        .send()
        .await
        .expect("hub bus");
    let bus_arn = bus.event_bus_arn().expect("bus ARN").to_owned();
    hub_events
        .put_rule()
        .name("to-guardrail")
        .event_bus_name("kms-guardrail")
        .event_pattern(pattern(
            "template.yaml",
            &["Resources", "HubRule", "Properties", "EventPattern"],
        ))
        .send()
        .await
        .expect("hub rule");
    let queue_url = sqs
        .create_queue()
        .queue_name("guardrail-stand-in")
        .send()
        .await
        .expect("queue")
        .queue_url()
        .expect("queue URL")
        .to_owned();
    hub_events
        .put_targets()
        .rule("to-guardrail")
        .event_bus_name("kms-guardrail")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("function")
                .arn(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:guardrail-stand-in"))
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("hub target");

    // The member: the forwarding template's rule on its default bus, to the hub bus.
    member_events
        .put_rule()
        .name("forward-to-hub")
        .event_pattern(pattern(
            "deploy/member-forwarding.yaml",
            &[
                "Resources",
                "ForwardKeyPolicyEvents",
                "Properties",
                "EventPattern",
            ],
        ))
        .send()
        .await
        .expect("member rule");
    member_events
        .put_targets()
        .rule("forward-to-hub")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("hub")
                .arn(&bus_arn)
                .role_arn(format!("arn:aws:iam::{MEMBER_A}:role/forwarder"))
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("member target");

    // CloudTrail's event on the member's default bus, and one the pattern must not match.
    let event = event_in(
        "put-key-policy-public.json",
        MEMBER_A,
        &key,
        &public_policy_in(MEMBER_A),
    );
    let mut decrypt = event.clone();
    decrypt["detail"]["eventName"] = Value::String("Decrypt".to_owned());
    for e in [&event, &decrypt] {
        let put = member_events
            .put_events()
            .entries(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .source(e["source"].as_str().expect("source"))
                    .detail_type(e["detail-type"].as_str().expect("detail-type"))
                    .detail(e["detail"].to_string())
                    .build(),
            )
            .send()
            .await
            .expect("put events");
        assert_eq!(put.failed_entry_count(), 0);
    }

    let received = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    assert_eq!(
        received.messages().len(),
        1,
        "only the PutKeyPolicy reaches the hub"
    );
    let delivered: Value =
        serde_json::from_str(received.messages()[0].body().expect("body")).expect("JSON");
    // EventBridge rewrites the envelope to the hub's account (moto leaves `account` out):
    // either way it does not name the member, and the guardrail must not need it to.
    assert_ne!(delivered["account"], MEMBER_A, "{delivered}");
    assert_eq!(delivered["detail"]["recipientAccountId"], MEMBER_A);

    // What the hub rule delivers, the guardrail remediates in the member.
    let (app, _queue) = hub_app(&hub).await;
    let out = app.invoke(&delivered).await.expect("handled");
    assert_eq!(out.action, Action::Reverted, "{}", out.message);
    assert!(!is_public(&policy_of(&a, &key).await));
}

#[tokio::test]
async fn the_command_line_sweeps_the_accounts_and_regions_it_is_given() {
    let _serial = fresh().await;
    let hub = sdk().await;
    let a = sdk_in(MEMBER_A, OTHER_REGION).await;
    let member_key = new_key(&a, &public_policy_in(MEMBER_A)).await;
    let hub_key = new_key(&hub, &public_policy_in(ACCOUNT)).await;
    let run = |args: &[&str], member_role: Option<&str>| {
        let mut command = sweep_command(args);
        command.env_remove("GUARDRAIL_ROLE_ARN");
        match member_role {
            Some(name) => command.env("GUARDRAIL_MEMBER_ROLE", name),
            None => command.env_remove("GUARDRAIL_MEMBER_ROLE"),
        };
        command.output().expect("the sweep runs")
    };

    // Another account without a member role: refused, one line, nothing swept.
    let refused = run(&["--account", MEMBER_A], None);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("GUARDRAIL_MEMBER_ROLE"), "{stderr}");

    let out = run(
        &[
            "--enforce",
            "--account",
            MEMBER_A,
            "--account",
            ACCOUNT,
            "--region",
            OTHER_REGION,
            "--region",
            REGION,
        ],
        Some(MEMBER_ROLE),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "violations found: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("the summary is JSON");
    assert_eq!(summary["units"], 4);
    assert_eq!(summary["remediated"], 2, "{summary}");
    assert_eq!(summary["accounts"][MEMBER_A]["remediated"], 1);
    assert_eq!(summary["accounts"][ACCOUNT]["remediated"], 1);
    assert_eq!(summary["not_covered"], serde_json::json!([]));
    assert!(!is_public(&policy_of(&a, &member_key).await));
    assert!(!is_public(&policy_of(&hub, &hub_key).await));
}

/// A grant names an account, not an organization: the hub learns its organization's
/// accounts (`ListAccounts`), so a member key's grant to a sibling account of a trusted
/// organization stays, and one to an outside account is revoked — in the member.
#[tokio::test]
async fn a_grant_to_a_sibling_account_stays_and_one_outside_the_organization_is_revoked() {
    let _serial = fresh().await;
    let hub = sdk().await;
    let (org_id, members) = organization_with_members(&hub).await;
    let (owner, sibling) = (&members[0], &members[1]);
    let member = sdk_in(owner, REGION).await;
    let key = new_key(&member, &good_policy_in(owner)).await;
    let kms = aws_sdk_kms::Client::new(&member);
    let sibling_role = format!("arn:aws:iam::{sibling}:role/Reader");
    let to_sibling = create_grant(&member, &key, &sibling_role, GrantOperation::Encrypt).await;
    let outsider = "arn:aws:iam::999988887777:role/Reader";
    let to_outsider = create_grant(&member, &key, outsider, GrantOperation::Encrypt).await;

    let rules = std::env::temp_dir().join(format!(
        "kms-guardrail-org-grant-rules-{}.yaml",
        std::process::id()
    ));
    std::fs::write(
        &rules,
        format!(
            "version: 1\ntrusted_organizations: [\"{org_id}\"]\nrules:\n  grant-untrusted-grantee: revert\n"
        ),
    )
    .expect("rules file");
    let mut cfg = config(Mode::Enforce);
    cfg.rules = kms_guardrail::config::RulesSource::File(rules);
    cfg.member_role = Some(MEMBER_ROLE.to_owned());
    let app = app(cfg, &hub).await;

    let event = |grant_id: &str| {
        let mut e = forwarded(event_in(
            "create-grant-foreign-account.json",
            owner,
            &key,
            "",
        ));
        e["detail"]["responseElements"]["grantId"] = grant_id.into();
        e
    };
    let kept = app.invoke(&event(&to_sibling)).await.expect("handled");
    assert_eq!(
        (kept.status, kept.action),
        (Status::Compliant, Action::None),
        "{:?}",
        kept.grants
    );
    let revoked = app.invoke(&event(&to_outsider)).await.expect("handled");
    assert_eq!(
        (revoked.status, revoked.action, revoked.verified),
        (Status::Violating, Action::Reverted, Some(true)),
        "{}",
        revoked.message
    );
    let left: Vec<String> = kms
        .list_grants()
        .key_id(&key)
        .send()
        .await
        .expect("list grants")
        .grants()
        .iter()
        .filter_map(|g| g.grant_id())
        .map(str::to_owned)
        .collect();
    assert_eq!(left, [to_sibling]);
}
