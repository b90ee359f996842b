//! `template.yaml` agrees with the code: the binary it builds, the environment the function
//! reads, the events intake handles, least privilege, and a rules document the function
//! accepts. (cfn-lint and `sam validate --lint` check the template itself, in scripts/test.)

use kms_guardrail::config::Config;
use kms_guardrail::engine::RuleSet;
use kms_guardrail::sweep::Request;
use serde_yaml_ng::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn template() -> Value {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml"))
        .expect("template");
    serde_yaml_ng::from_str(&text).expect("template is YAML")
}

/// The value under a CloudFormation intrinsic tag (`!Sub`, `!Ref`), or the value itself.
fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

fn strings(v: &Value) -> Vec<String> {
    match untag(v) {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_function_is_the_lambda_binary_with_the_guardrails_environment() {
    let t = template();
    let function = &t["Resources"]["GuardrailFunction"];
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"],
        "guardrail-lambda"
    );
    assert!(Path::new(env!("CARGO_BIN_EXE_guardrail-lambda")).exists());
    let vars: BTreeSet<String> = function["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .expect("variables")
        .keys()
        .map(|k| k.as_str().expect("name").to_owned())
        .collect();
    let expected: BTreeSet<String> = [
        "GUARDRAIL_MODE",
        "GUARDRAIL_RULES",
        "GUARDRAIL_ALERT_TOPIC_ARN",
        "GUARDRAIL_BASELINE_TABLE",
        "GUARDRAIL_ROLE_ARN",
        "RUST_LOG",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(vars, expected);
}

#[test]
fn the_rule_matches_what_intake_handles_and_excludes_failed_calls() {
    let t = template();
    let pattern = &t["Resources"]["GuardrailFunction"]["Properties"]["Events"]["KeyPolicyChanges"]
        ["Properties"]["Pattern"];
    assert_eq!(strings(&pattern["source"]), ["aws.kms"]);
    assert_eq!(
        strings(&pattern["detail"]["eventName"]),
        ["PutKeyPolicy", "CreateKey", "ReplicateKey"]
    );
    assert_eq!(
        pattern["detail"]["errorCode"][0]["exists"],
        Value::Bool(false)
    );
}

#[test]
fn the_role_is_least_privilege() {
    let t = template();
    let statements = &t["Resources"]["GuardrailFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        ["Statement"];
    let actions: BTreeSet<String> = statements
        .as_sequence()
        .expect("statements")
        .iter()
        .flat_map(|s| strings(&s["Action"]))
        .collect();
    assert!(actions.iter().all(|a| !a.contains('*')), "{actions:?}");
    let kms: BTreeSet<&str> = actions
        .iter()
        .filter_map(|a| a.strip_prefix("kms:"))
        .collect();
    assert_eq!(
        kms,
        [
            "Decrypt",
            "DescribeKey",
            "GenerateDataKey",
            "GetKeyPolicy",
            "ListAliases",
            "ListKeys",
            "PutKeyPolicy"
        ]
        .into()
    );
}

#[test]
fn the_sweep_is_the_same_binary_on_a_schedule_with_requests_intake_reads() {
    let t = template();
    let sweep = &t["Resources"]["SweepFunction"];
    let guardrail = &t["Resources"]["GuardrailFunction"];
    // The same build (SAM builds it once) and role.
    assert_eq!(sweep["Metadata"], guardrail["Metadata"]);
    assert_eq!(sweep["Properties"]["Role"], guardrail["Properties"]["Role"]);
    assert_eq!(sweep["Properties"]["ReservedConcurrentExecutions"], 1);
    let vars = &sweep["Properties"]["Environment"]["Variables"];
    // The environment the configuration accepts, with the stack parameters' defaults.
    let defaults = &t["Parameters"];
    let percent = defaults["SweepQuotaPercent"]["Default"]
        .as_u64()
        .expect("a default");
    let env = |k: &str| match k {
        "GUARDRAIL_SWEEP_QUOTA_PERCENT" => Some(percent.to_string()),
        "GUARDRAIL_SWEEP_CONCURRENCY" => vars[k].as_str().map(str::to_owned),
        _ => None,
    };
    let config = Config::from_env(env).expect("the sweep's environment is valid");
    assert_eq!(config.sweep_quota_percent, 10);
    assert_eq!(defaults["SweepSchedule"]["Default"], "rate(1 day)");
    let events = &sweep["Properties"]["Events"];
    let mut requests = Vec::new();
    for name in ["StartSweep", "ResumeSweep"] {
        assert_eq!(events[name]["Type"], "ScheduleV2");
        let input = events[name]["Properties"]["Input"].as_str().expect("input");
        let input: serde_json::Value = serde_json::from_str(input).expect("JSON input");
        requests.push(
            Request::from_input(&input)
                .expect("a sweep request")
                .expect("a valid one"),
        );
    }
    assert!(
        matches!(&requests[0], Request::Start { id } if id == "<aws.scheduler.scheduled-time>")
    );
    assert_eq!(requests[1], Request::Resume);
}

#[test]
fn the_default_rules_document_is_accepted() {
    let t = template();
    let value = &t["Resources"]["RulesParameter"]["Properties"]["Value"];
    let Value::Sequence(sub) = untag(value) else {
        panic!("the rules document is a !Sub with variables")
    };
    // Rendered as a deploy with the default parameters would render it: empty lists.
    let rendered = sub[0]
        .as_str()
        .expect("document")
        .replace("${Accounts}", "")
        .replace("${Organizations}", "")
        .replace("${AdminList}", "")
        .replace("${ExposureAction}", "revert");
    let rules = RuleSet::from_document(&rendered).expect("the stack's rules document is valid");
    assert_eq!(
        rules.action(kms_guardrail::engine::RuleId::PublicAccess),
        kms_guardrail::engine::RuleAction::Revert
    );
    // With parameters, the quoted lists parse too.
    let with_lists = sub[0]
        .as_str()
        .expect("document")
        .replace("${Accounts}", "\"444455556666\", \"777788889999\"")
        .replace("${Organizations}", "\"o-a1b2c3d4e5\"")
        .replace("${AdminList}", "\"arn:aws:iam::${account}:role/KeyAdmin\"")
        .replace("${ExposureAction}", "alert");
    let rules = RuleSet::from_document(&with_lists).expect("valid with lists");
    assert_eq!(rules.trusted_accounts.len(), 2);
}
