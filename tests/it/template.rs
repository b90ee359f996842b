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
    load("template.yaml")
}

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
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
        "GUARDRAIL_MEMBER_ROLE",
        "GUARDRAIL_SECURITY_HUB",
        "GUARDRAIL_ALERT_FORMAT",
        "GUARDRAIL_DOCS_URL",
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
        ["PutKeyPolicy", "CreateKey", "ReplicateKey", "CreateGrant"]
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
            "ListGrants",
            "ListKeys",
            "PutKeyPolicy",
            "RevokeGrant"
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

/// The items under a `!If [condition, then, else]`.
fn if_branches(v: &Value) -> (&str, &Value, &Value) {
    let Value::Tagged(t) = v else {
        panic!("not a tagged value: {v:?}")
    };
    assert_eq!(t.tag, "If");
    let items = t.value.as_sequence().expect("!If takes a list");
    (
        items[0].as_str().expect("a condition"),
        &items[1],
        &items[2],
    )
}

#[test]
fn organization_mode_is_optional_and_scoped_to_the_organization() {
    let t = template();
    // The member role's name is passed on only in organization mode, and is one the
    // function accepts.
    let env = &t["Resources"]["GuardrailFunction"]["Properties"]["Environment"]["Variables"];
    let (condition, then, _) = if_branches(&env["GUARDRAIL_MEMBER_ROLE"]);
    assert_eq!(condition, "IsOrganization");
    assert_eq!(strings(then), ["MemberRoleName"]);
    let name = t["Parameters"]["MemberRoleName"]["Default"]
        .as_str()
        .expect("a default");
    let config = Config::from_env(|k| (k == "GUARDRAIL_MEMBER_ROLE").then(|| name.to_owned()))
        .expect("the default member role name is valid");
    assert_eq!(config.member_role.as_deref(), Some(name));
    // The function may assume that role only, only in the organization's accounts.
    let statements = t["Resources"]["GuardrailFunctionRole"]["Properties"]["Policies"][0]
        ["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements");
    let (condition, assume, _) = statements
        .iter()
        .find(|s| matches!(s, Value::Tagged(_)))
        .map(if_branches)
        .expect("a conditional statement");
    assert_eq!(condition, "IsOrganization");
    assert_eq!(strings(&assume["Action"]), ["sts:AssumeRole"]);
    assert!(strings(&assume["Resource"])[0].ends_with(":role/${MemberRoleName}"));
    assert_eq!(
        strings(&assume["Condition"]["StringEquals"]["aws:ResourceOrgID"]),
        ["OrganizationId"]
    );
    // The hub bus takes events from the organization only, and its rule invokes the function.
    let policy = &t["Resources"]["HubEventBusPolicy"]["Properties"]["Statement"];
    assert_eq!(strings(&policy["Action"]), ["events:PutEvents"]);
    assert_eq!(
        strings(&policy["Condition"]["StringEquals"]["aws:PrincipalOrgID"]),
        ["OrganizationId"]
    );
    for resource in [
        "HubEventBus",
        "HubEventBusPolicy",
        "HubRule",
        "HubRulePermission",
    ] {
        assert_eq!(
            t["Resources"][resource]["Condition"], "IsOrganization",
            "{resource}"
        );
    }
    assert_eq!(
        strings(&t["Resources"]["HubRule"]["Properties"]["Targets"][0]["Arn"]),
        ["GuardrailFunction.Arn"]
    );
}

#[test]
fn the_hub_rule_and_the_member_forwarding_rule_match_what_the_default_rule_matches() {
    let t = template();
    let own = &t["Resources"]["GuardrailFunction"]["Properties"]["Events"]["KeyPolicyChanges"]["Properties"]
        ["Pattern"];
    assert_eq!(
        &t["Resources"]["HubRule"]["Properties"]["EventPattern"],
        own
    );
    let forwarding = load("deploy/member-forwarding.yaml");
    let rule = &forwarding["Resources"]["ForwardKeyPolicyEvents"]["Properties"];
    assert_eq!(&rule["EventPattern"], own);
    assert_eq!(strings(&rule["Targets"][0]["Arn"]), ["HubEventBusArn"]);
    // The forwarding role may put events on the hub bus and do nothing else.
    let role = &forwarding["Resources"]["ForwardingRole"]["Properties"];
    let allowed = &role["Policies"][0]["PolicyDocument"]["Statement"];
    assert_eq!(allowed.as_sequence().map(Vec::len), Some(1));
    assert_eq!(strings(&allowed[0]["Action"]), ["events:PutEvents"]);
    assert_eq!(strings(&allowed[0]["Resource"]), ["HubEventBusArn"]);
}

#[test]
fn the_member_role_trusts_only_the_hub_and_holds_least_privilege() {
    let member = load("deploy/member-role.yaml");
    let hub = template();
    assert_eq!(
        member["Parameters"]["MemberRoleName"]["Default"],
        hub["Parameters"]["MemberRoleName"]["Default"]
    );
    let role = &member["Resources"]["MemberRole"]["Properties"];
    assert_eq!(strings(&role["RoleName"]), ["MemberRoleName"]);
    let trust = role["AssumeRolePolicyDocument"]["Statement"]
        .as_sequence()
        .expect("trust");
    assert_eq!(trust.len(), 1);
    assert_eq!(
        strings(&trust[0]["Principal"]["AWS"]),
        ["HubFunctionRoleArns"]
    );
    assert_eq!(strings(&trust[0]["Action"]), ["sts:AssumeRole"]);
    let actions: BTreeSet<String> = role["Policies"][0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements")
        .iter()
        .flat_map(|s| strings(&s["Action"]))
        .collect();
    let expected: BTreeSet<String> = [
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:PutKeyPolicy",
        "kms:ListKeys",
        "kms:ListAliases",
        "kms:ListGrants",
        "kms:RevokeGrant",
        "securityhub:BatchImportFindings",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(actions, expected);
}

#[test]
fn one_alarm_watches_every_accounts_failures() {
    let t = template();
    let alarm = &t["Resources"]["RemediationFailuresAlarm"]["Properties"];
    assert_eq!(
        alarm["Namespace"],
        kms_guardrail::guardrail::metrics::NAMESPACE
    );
    assert_eq!(alarm["Dimensions"][0]["Name"], "Guardrail");
    assert_eq!(
        alarm["Dimensions"][0]["Value"],
        kms_guardrail::guardrail::metrics::ALL_ACCOUNTS
    );
}

#[test]
fn the_organization_sweep_worker_is_the_same_binary_fed_one_unit_at_a_time() {
    let t = template();
    let worker = &t["Resources"]["SweepWorkerFunction"];
    assert_eq!(worker["Condition"], "IsOrganization");
    assert_eq!(
        worker["Metadata"],
        t["Resources"]["GuardrailFunction"]["Metadata"]
    );
    let source = &worker["Properties"]["Events"]["SweepUnits"];
    assert_eq!(source["Type"], "SQS");
    assert_eq!(source["Properties"]["BatchSize"], 1);
    assert_eq!(
        strings(&source["Properties"]["FunctionResponseTypes"]),
        ["ReportBatchItemFailures"]
    );
    // A message stays invisible longer than a worker can run, and fails over to the
    // dead-letter queue after as many deliveries as the worker knows about.
    let queue = &t["Resources"]["SweepQueue"]["Properties"];
    let timeout = worker["Properties"]["Timeout"].as_u64().expect("timeout");
    assert!(queue["VisibilityTimeout"].as_u64().expect("visibility") >= 6 * timeout);
    let vars = &worker["Properties"]["Environment"]["Variables"];
    assert_eq!(
        queue["RedrivePolicy"]["maxReceiveCount"]
            .as_u64()
            .map(|n| n.to_string()),
        vars["GUARDRAIL_SWEEP_MAX_RECEIVES"]
            .as_str()
            .map(str::to_owned)
    );
    let config = Config::from_env(|k| match k {
        "GUARDRAIL_SWEEP_QUEUE_URL" => {
            Some("https://sqs.us-east-1.amazonaws.com/111122223333/q".to_owned())
        }
        "GUARDRAIL_SWEEP_MAX_RECEIVES" | "GUARDRAIL_SWEEP_CONCURRENCY" => {
            vars[k].as_str().map(str::to_owned)
        }
        _ => None,
    })
    .expect("the worker's environment is valid");
    assert_eq!(config.fanout.map(|f| f.max_receives), Some(3));
    // The scheduled start fans out only in organization mode.
    let start = &t["Resources"]["SweepFunction"]["Properties"]["Environment"]["Variables"];
    let (condition, then, _) = if_branches(&start["GUARDRAIL_SWEEP_QUEUE_URL"]);
    assert_eq!(condition, "IsOrganization");
    assert_eq!(strings(then), ["SweepQueue"]);
}

#[test]
fn security_hub_and_the_alert_format_are_parameters_every_function_reads() {
    let t = template();
    assert_eq!(
        strings(&t["Parameters"]["SecurityHub"]["AllowedValues"]),
        ["off", "on"]
    );
    assert_eq!(t["Parameters"]["SecurityHub"]["Default"], "off");
    assert_eq!(
        strings(&t["Parameters"]["AlertFormat"]["AllowedValues"]),
        ["json", "chat"]
    );
    for function in ["GuardrailFunction", "SweepFunction", "SweepWorkerFunction"] {
        let vars = &t["Resources"][function]["Properties"]["Environment"]["Variables"];
        assert_eq!(
            strings(&vars["GUARDRAIL_SECURITY_HUB"]),
            ["SecurityHub"],
            "{function}"
        );
        assert_eq!(
            strings(&vars["GUARDRAIL_ALERT_FORMAT"]),
            ["AlertFormat"],
            "{function}"
        );
    }
    // Only when on, and only this account's own product: imports into members go through
    // their member role, whose template grants the same in each member.
    let statements = t["Resources"]["GuardrailFunctionRole"]["Properties"]["Policies"][0]
        ["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements");
    let conditional = statements
        .iter()
        .filter_map(|s| match s {
            Value::Tagged(t) if t.tag == "!If" => t.value.as_sequence(),
            _ => None,
        })
        .find(|branches| branches[1]["Sid"] == "SecurityHubFindings")
        .expect("a Security Hub statement");
    assert_eq!(conditional[0], "SecurityHubOn");
    let statement = &conditional[1];
    assert_eq!(
        strings(&statement["Action"]),
        ["securityhub:BatchImportFindings"]
    );
    let product =
        "arn:${AWS::Partition}:securityhub:*:${AWS::AccountId}:product/${AWS::AccountId}/default";
    assert_eq!(strings(&statement["Resource"]), [product]);
    let member = load("deploy/member-role.yaml");
    let member_statements = member["Resources"]["MemberRole"]["Properties"]["Policies"][0]
        ["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements");
    assert!(member_statements.iter().any(|s| strings(&s["Action"])
        == ["securityhub:BatchImportFindings"]
        && strings(&s["Resource"]) == [product]));
}
