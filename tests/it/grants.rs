//! The guardrail's decision for KMS grants over in-memory ports: a `CreateGrant` event's grant
//! judged as `ListGrants` has it, revoked only when the rules say revert and nothing holds
//! it (monitor mode, the revert budget, the guardrail's own change, an exempt key, an
//! organization membership it could not confirm), read back until gone; the sweep's grants.

use kms_guardrail::engine::key_grant::{Constraints, KeyGrant};
use kms_guardrail::engine::{Organization, RuleSet};
use kms_guardrail::guardrail::findings::FindingState;
use kms_guardrail::guardrail::memory::{
    Call, InMemoryBaselines, InMemoryCheckpoints, InMemoryKeyPolicies, RecordingAlerts,
    RecordingFindings,
};
use kms_guardrail::guardrail::ports::{Adapters, Baselines, ErrorClass, PortError};
use kms_guardrail::guardrail::{Action, Guardrail, HandlerError, Mode, Settings, Status};
use kms_guardrail::sweep::pace::{Paced, Pacing};
use kms_guardrail::sweep::{Limits, Request, SweepSettings, Sweeper};
use serde_json::Value;
use std::path::Path;

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const GRANT: &str = "0c237476b39f8bc44e45212e08498fbe3151305030726c0590dd8d3e9f3d6a60";
const FOREIGN_ROLE: &str = "arn:aws:iam::999988887777:role/Reader";
const GUARDRAIL_ROLE: &str = "arn:aws:iam::111122223333:role/kms-guardrail-GuardrailFunctionRole";
const NOW: u64 = 1_795_000_000;
const GOOD: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

fn event(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample event")).expect("JSON")
}

/// The example rules with every grant rule set to revert.
fn rules() -> RuleSet {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rules.yaml"))
            .expect("example rules");
    let mut rules = RuleSet::from_document(&text).expect("valid rules");
    for rule in kms_guardrail::engine::RuleId::ALL {
        if rule.is_grant_rule() {
            rules.set_action(rule, kms_guardrail::engine::RuleAction::Revert);
        }
    }
    rules
}

fn grant(id: &str, grantee: &str, operations: &[&str]) -> KeyGrant {
    KeyGrant {
        grant_id: id.to_owned(),
        key_id: Some(KEY.to_owned()),
        grantee_principal: Some(grantee.to_owned()),
        issuing_account: Some("arn:aws:iam::111122223333:root".to_owned()),
        operations: operations.iter().map(|o| (*o).to_owned()).collect(),
        ..KeyGrant::default()
    }
}

type Memory = Guardrail<
    Adapters<
        InMemoryKeyPolicies,
        RecordingAlerts,
        InMemoryBaselines,
        InMemoryCheckpoints,
        Option<RecordingFindings>,
    >,
>;

/// A guardrail whose organization (o-a1b2c3d4e5: the owner and 777766665555) is known.
fn guardrail(mode: Mode) -> Memory {
    let settings = Settings {
        mode,
        role_arn: Some(GUARDRAIL_ROLE.to_owned()),
        ..Settings::default()
    };
    settings.membership.set(
        Organization {
            id: "o-a1b2c3d4e5".to_owned(),
            accounts: vec!["111122223333".to_owned(), "777766665555".to_owned()],
        },
        NOW,
    );
    let g = Guardrail {
        ports: Adapters {
            keys: InMemoryKeyPolicies::default(),
            alerts: RecordingAlerts::default(),
            baselines: InMemoryBaselines::default(),
            checkpoints: Default::default(),
            findings: None,
        },
        settings,
    };
    g.ports.keys.insert(KEY, GOOD);
    g
}

type Swept = Sweeper<
    Adapters<
        Paced<InMemoryKeyPolicies>,
        RecordingAlerts,
        InMemoryBaselines,
        InMemoryCheckpoints,
        Option<RecordingFindings>,
    >,
>;

/// The sweep over `g`'s ports, paced as by default.
fn swept(g: Memory) -> Swept {
    Sweeper {
        guardrail: Guardrail {
            ports: Adapters {
                keys: Paced::new(g.ports.keys, Pacing::default()),
                alerts: g.ports.alerts,
                baselines: g.ports.baselines,
                checkpoints: g.ports.checkpoints,
                findings: g.ports.findings,
            },
            settings: g.settings,
        },
        settings: SweepSettings::for_region("us-east-1"),
    }
}

fn grant_ids(g: &Memory) -> Vec<String> {
    g.ports
        .keys
        .grants(KEY)
        .into_iter()
        .map(|g| g.grant_id)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_grant_to_a_foreign_account_is_revoked_and_alerted_with_its_details() {
    let g = guardrail(Mode::Enforce);
    g.ports
        .keys
        .add_grant(KEY, grant(GRANT, FOREIGN_ROLE, &["Decrypt", "DescribeKey"]));
    g.ports.keys.add_grant(
        KEY,
        grant("own", "arn:aws:iam::111122223333:role/App", &["Decrypt"]),
    );
    let out = g
        .handle(&event("create-grant-foreign-account.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(
        (out.status, out.action),
        (Status::Violating, Action::Reverted)
    );
    assert_eq!(out.verified, Some(true));
    assert_eq!(g.ports.keys.revokes(), [(KEY.to_owned(), GRANT.to_owned())]);
    assert_eq!(grant_ids(&g), ["own"], "only the event's grant is judged");
    let alerts = g.ports.alerts.sent();
    assert_eq!(alerts.len(), 1);
    let body = &alerts[0].body;
    assert_eq!(alerts[0].action, "revoked");
    assert_eq!(alerts[0].severity, "high");
    assert!(alerts[0].subject.chars().count() <= 100);
    assert_eq!(body["grant"]["GrantId"], GRANT);
    assert_eq!(body["grant"]["GranteePrincipal"], FOREIGN_ROLE);
    assert_eq!(
        body["grant"]["Operations"],
        serde_json::json!(["Decrypt", "DescribeKey"])
    );
    assert_eq!(
        body["grant"]["IssuingAccount"],
        "arn:aws:iam::111122223333:root"
    );
    assert_eq!(body["event"]["name"], "CreateGrant");
    assert_eq!(
        body["actor"]["arn"],
        "arn:aws:sts::111122223333:assumed-role/Developer/alice"
    );
    let rules: Vec<&str> = body["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().expect("rule"))
        .collect();
    assert_eq!(rules, ["grant-untrusted-grantee", "grant-unconstrained"]);
    assert_eq!(body["findings"][0]["grant"], GRANT);
    assert_eq!(body["verified"], true);
}

#[tokio::test(start_paused = true)]
async fn a_grant_to_another_account_of_the_trusted_organization_survives() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.add_grant(KEY, {
        let mut sibling = grant(GRANT, "arn:aws:iam::777766665555:role/Reader", &["Decrypt"]);
        sibling.constraints = Some(Constraints {
            encryption_context_subset: [("app".to_owned(), "billing".to_owned())].into(),
            ..Constraints::default()
        });
        sibling
    });
    let out = g
        .handle(&event("create-grant-foreign-account.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!((out.status, out.action), (Status::Compliant, Action::None));
    assert!(g.ports.keys.revokes().is_empty());
    assert!(g.ports.alerts.sent().is_empty());
}

#[tokio::test(start_paused = true)]
async fn without_known_membership_a_foreign_grant_is_alerted_never_revoked() {
    let g = guardrail(Mode::Enforce);
    let unknown = Guardrail {
        ports: g.ports,
        settings: Settings {
            membership: Default::default(),
            ..g.settings
        },
    };
    unknown
        .ports
        .keys
        .add_grant(KEY, grant(GRANT, FOREIGN_ROLE, &["Encrypt"]));
    let out = unknown
        .handle(&event("create-grant-foreign-account.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(
        (out.status, out.action),
        (Status::Violating, Action::Alerted)
    );
    assert!(unknown.ports.keys.revokes().is_empty());
    assert!(
        out.findings[0]
            .message
            .contains("membership could not be confirmed"),
        "{}",
        out.findings[0].message
    );
    assert_eq!(unknown.ports.alerts.sent()[0].action, "alerted");
}

#[tokio::test(start_paused = true)]
async fn monitor_mode_says_what_it_would_revoke() {
    let g = guardrail(Mode::Monitor);
    g.ports
        .keys
        .add_grant(KEY, grant(GRANT, FOREIGN_ROLE, &["Decrypt"]));
    let out = g
        .handle(&event("create-grant-foreign-account.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.action, Action::WouldRevert);
    assert!(
        out.message.contains("would have revoked grant"),
        "{}",
        out.message
    );
    assert!(g.ports.keys.revokes().is_empty());
    assert_eq!(g.ports.alerts.sent()[0].action, "would-revoke");
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_the_guardrails_own_change_and_an_exempt_key_hold_the_revocation() {
    // The key's budget is spent.
    let g = guardrail(Mode::Enforce);
    g.ports
        .keys
        .add_grant(KEY, grant(GRANT, FOREIGN_ROLE, &["Decrypt"]));
    let budget = g.settings.budget;
    for _ in 0..budget.reverts {
        assert!(
            g.ports
                .baselines
                .take_revert(KEY, NOW, budget)
                .await
                .expect("budget")
        );
    }
    let out = g
        .handle(&event("create-grant-foreign-account.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.action, Action::Alerted);
    assert!(
        out.message.contains("revert budget spent"),
        "{}",
        out.message
    );
    assert!(g.ports.keys.revokes().is_empty());

    // The grant was made by the guardrail's own role.
    let g = guardrail(Mode::Enforce);
    g.ports
        .keys
        .add_grant(KEY, grant(GRANT, FOREIGN_ROLE, &["Decrypt"]));
    let mut own = event("create-grant-foreign-account.json");
    own["detail"]["userIdentity"]["arn"] =
        "arn:aws:sts::111122223333:assumed-role/kms-guardrail-GuardrailFunctionRole/x".into();
    own["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = GUARDRAIL_ROLE.into();
    let out = g.handle(&own, &rules(), NOW).await.expect("handled");
    assert_eq!(out.action, Action::Alerted);
    assert!(out.message.contains("guardrail's own"), "{}", out.message);
    assert!(g.ports.keys.revokes().is_empty());

    // The key is exempt.
    let g = guardrail(Mode::Enforce);
    g.ports
        .keys
        .add_grant(KEY, grant(GRANT, FOREIGN_ROLE, &["Decrypt"]));
    let mut exempt = rules();
    exempt.exemptions.push(KEY.to_owned());
    let out = g
        .handle(&event("create-grant-foreign-account.json"), &exempt, NOW)
        .await
        .expect("handled");
    assert_eq!(out.action, Action::Alerted);
    assert!(out.message.contains("exempt"), "{}", out.message);
    assert!(g.ports.keys.revokes().is_empty());
    assert_eq!(g.ports.alerts.sent().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn rules_that_say_alert_never_revoke() {
    let g = guardrail(Mode::Enforce);
    g.ports
        .keys
        .add_grant(KEY, grant(GRANT, FOREIGN_ROLE, &["Decrypt"]));
    let alert_only = RuleSet::default();
    let out = g
        .handle(
            &event("create-grant-foreign-account.json"),
            &alert_only,
            NOW,
        )
        .await
        .expect("handled");
    assert_eq!(
        (out.status, out.action),
        (Status::Violating, Action::Alerted)
    );
    assert!(g.ports.keys.revokes().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_grant_already_gone_is_nothing_to_do() {
    let g = guardrail(Mode::Enforce);
    let out = g
        .handle(&event("create-grant-foreign-account.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.status, Status::Compliant);
    assert!(
        out.message.contains("no longer on the key"),
        "{}",
        out.message
    );
    assert!(g.ports.alerts.sent().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_revocation_is_read_back_until_it_shows() {
    let g = guardrail(Mode::Enforce);
    g.ports
        .keys
        .add_grant(KEY, grant(GRANT, FOREIGN_ROLE, &["Decrypt"]));
    // Still listed by two reads, gone on the third (the back-off's attempts are four).
    g.ports.keys.linger_revoked(2);
    let out = g
        .handle(&event("create-grant-foreign-account.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!((out.action, out.verified), (Action::Reverted, Some(true)));

    let g = guardrail(Mode::Enforce);
    g.ports
        .keys
        .add_grant(KEY, grant(GRANT, FOREIGN_ROLE, &["Decrypt"]));
    g.ports.keys.linger_revoked(100);
    let out = g
        .handle(&event("create-grant-foreign-account.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!((out.action, out.verified), (Action::Reverted, Some(false)));
    assert!(
        out.message.contains("eventually consistent"),
        "{}",
        out.message
    );
}

#[tokio::test(start_paused = true)]
async fn list_and_revoke_faults_are_classified() {
    // A throttled ListGrants is retried by Lambda.
    let g = guardrail(Mode::Enforce);
    g.ports.keys.fail_next(
        Call::ListGrants,
        PortError::new(ErrorClass::Transient, "ThrottlingException", "slow down"),
    );
    let err = g
        .handle(&event("create-grant-foreign-account.json"), &rules(), NOW)
        .await
        .expect_err("transient");
    assert!(matches!(
        err,
        HandlerError::Transient {
            step: "ListGrants",
            ..
        }
    ));

    // A denied ListGrants is never a pass: alerted as could-not-check.
    g.ports.keys.fail_next(
        Call::ListGrants,
        PortError::new(ErrorClass::AccessDenied, "AccessDeniedException", "no"),
    );
    let out = g
        .handle(&event("create-grant-foreign-account.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.status, Status::CouldNotCheck);
    assert_eq!(g.ports.alerts.sent()[0].action, "could-not-check");

    // A refused RevokeGrant is a failed revocation, alerted.
    g.ports
        .keys
        .add_grant(KEY, grant(GRANT, FOREIGN_ROLE, &["Decrypt"]));
    g.ports.keys.fail_next(
        Call::Revoke,
        PortError::new(ErrorClass::AccessDenied, "AccessDeniedException", "no"),
    );
    let out = g
        .handle(&event("create-grant-foreign-account.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.action, Action::RevertFailed);
    assert!(out.failed());
    assert_eq!(grant_ids(&g), [GRANT]);
    assert_eq!(
        g.ports.alerts.sent().last().expect("alert").action,
        "revoke-failed"
    );
}

#[tokio::test(start_paused = true)]
async fn grants_that_aws_services_make_for_own_resources_are_never_revoked() {
    let g = guardrail(Mode::Enforce);
    let mut rds = grant(
        "9e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7",
        "rds.us-east-1.amazonaws.com",
        &["Decrypt", "GenerateDataKey", "CreateGrant", "RetireGrant"],
    );
    rds.retiring_principal = Some("rds.us-east-1.amazonaws.com".to_owned());
    rds.constraints = Some(Constraints {
        encryption_context_subset: [("aws:rds:db-id".to_owned(), "db-ABC".to_owned())].into(),
        ..Constraints::default()
    });
    g.ports.keys.add_grant(KEY, rds);
    let out = g
        .handle(&event("create-grant-by-rds.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.status, Status::Compliant);
    assert!(g.ports.keys.revokes().is_empty());
    assert!(g.ports.alerts.sent().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_sweep_finds_a_grant_made_before_the_guardrail_existed() {
    let g = guardrail(Mode::Enforce);
    g.ports
        .keys
        .add_grant(KEY, grant("old", FOREIGN_ROLE, &["Decrypt"]));
    g.ports.keys.add_grant(
        KEY,
        grant("app", "arn:aws:iam::111122223333:role/App", &["Decrypt"]),
    );
    let sweeper = swept(g);
    let report = sweeper
        .run(
            &Request::Start { id: "g".to_owned() },
            &rules(),
            Limits::default(),
            &mut |_| {},
        )
        .await
        .expect("the sweep runs");
    let counts = report.summary.expect("a summary").counts;
    assert_eq!(
        (
            counts.grants_seen,
            counts.grant_violations,
            counts.grants_revoked
        ),
        (2, 1, 1)
    );
    assert_eq!(counts.compliant, 1, "the policy itself complies");
    let keys = sweeper.guardrail.ports.keys.inner();
    assert_eq!(keys.revokes(), [(KEY.to_owned(), "old".to_owned())]);
    let alerts = sweeper.guardrail.ports.alerts.sent();
    let actions: Vec<&str> = alerts.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["revoked", "sweep-summary"]);
    assert!(
        alerts[1].subject.contains("1 violating grants"),
        "{}",
        alerts[1].subject
    );

    // With every grant rule off, the sweep does not list grants at all.
    let mut off = rules();
    for rule in kms_guardrail::engine::RuleId::ALL {
        if rule.is_grant_rule() {
            off.set_action(rule, kms_guardrail::engine::RuleAction::Off);
        }
    }
    keys.fail_next(
        Call::ListGrants,
        PortError::new(ErrorClass::AccessDenied, "AccessDeniedException", "no"),
    );
    let report = sweeper
        .run(
            &Request::Start { id: "h".to_owned() },
            &off,
            Limits::default(),
            &mut |_| {},
        )
        .await
        .expect("the sweep runs");
    let counts = report.summary.expect("a summary").counts;
    assert_eq!((counts.grants_seen, counts.failed), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_sweep_that_cannot_list_grants_counts_the_key_failed_without_an_alert_per_key() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.fail_next(
        Call::ListGrants,
        PortError::new(ErrorClass::AccessDenied, "AccessDeniedException", "no"),
    );
    let sweeper = swept(g);
    let mut outcomes = Vec::new();
    let report = sweeper
        .run(
            &Request::Start { id: "d".to_owned() },
            &rules(),
            Limits::default(),
            &mut |o| outcomes.push(o.clone()),
        )
        .await
        .expect("the sweep runs");
    let summary = report.summary.expect("a summary");
    assert_eq!(summary.counts.failed, 1);
    assert!(
        outcomes[0]
            .grants_unchecked
            .as_deref()
            .is_some_and(|r| r.contains("ListGrants")),
        "{:?}",
        outcomes[0].grants_unchecked
    );
    let alerts = sweeper.guardrail.ports.alerts.sent();
    let actions: Vec<&str> = alerts.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["sweep-summary"]);
}

#[test]
fn a_failed_membership_lookup_keeps_what_was_known_and_is_not_repeated_at_once() {
    use kms_guardrail::guardrail::Membership;
    let m = Membership::default();
    assert_eq!((m.get(), m.learned_at()), (None, None));
    m.failed(NOW);
    assert_eq!((m.get(), m.learned_at()), (None, Some(NOW)));
    m.set(
        Organization {
            id: "o-a1b2c3d4e5".to_owned(),
            accounts: vec!["111122223333".to_owned()],
        },
        NOW + 10,
    );
    m.failed(NOW + 20);
    assert_eq!(
        m.get().map(|o| o.id.clone()).as_deref(),
        Some("o-a1b2c3d4e5")
    );
    assert_eq!(m.learned_at(), Some(NOW + 20));
}

#[tokio::test(start_paused = true)]
async fn a_revoked_grant_is_a_finding_until_a_sweep_sees_the_key_without_it() {
    let mut g = guardrail(Mode::Enforce);
    g.ports.findings = Some(RecordingFindings::default());
    g.ports
        .keys
        .add_grant(KEY, grant(GRANT, FOREIGN_ROLE, &["Decrypt", "DescribeKey"]));
    g.handle(&event("create-grant-foreign-account.json"), &rules(), NOW)
        .await
        .expect("handled");
    let findings = |g: &Swept| {
        g.guardrail
            .ports
            .findings
            .as_ref()
            .expect("on")
            .sent()
            .into_iter()
            .map(|f| (f.rule.as_str(), f.state))
            .collect::<Vec<_>>()
    };
    let revoked = || FindingState::Active {
        action: "revoked".to_owned(),
    };
    let sweeper = swept(g);
    // A CreateGrant event reads one grant: it opens findings, it never resolves any.
    assert_eq!(
        findings(&sweeper),
        [
            ("grant-untrusted-grantee", revoked()),
            ("grant-unconstrained", revoked()),
        ]
    );
    // The sweep reads every grant: the key has none left that violates a rule.
    sweeper
        .run(
            &Request::Start { id: "s".to_owned() },
            &rules(),
            Limits::default(),
            &mut |_| {},
        )
        .await
        .expect("the sweep runs");
    assert_eq!(
        findings(&sweeper)[2..],
        [
            ("grant-untrusted-grantee", FindingState::Resolved),
            ("grant-unconstrained", FindingState::Resolved),
        ]
    );
}
