//! Data-driven verdicts: every `tests/fixtures/policies/<group>/<case>.json` (a key policy)
//! and `tests/fixtures/grants/<group>/<case>.json` (one grant as `ListGrants` reports it) is
//! evaluated and its findings compared with `<case>.expect`. Adding a case means adding two
//! files.
//!
//! `.expect` format: `#` lines describe the case; `@account ID|-`, `@rules FILE` (under
//! `tests/fixtures/rules/`, default `org.yaml`), `@key-arn ARN` and `@org ORG-ID ACCOUNT,…`
//! (the owner's organization and its accounts) set the context; every other line is one
//! expected finding: `<rule-id> <statement index | ->` for a policy, `<rule-id> <action>` for a
//! grant. No such line means the policy or grant must be compliant.

use engine::key_grant::KeyGrant;
use engine::{KeyContext, Organization, Policy, RuleSet, evaluate, evaluate_grant};
use std::path::{Path, PathBuf};

const DEFAULT_OWNER: &str = "111122223333";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

struct Expectation {
    account: Option<String>,
    rules: String,
    key_arn: Option<String>,
    organization: Option<std::sync::Arc<Organization>>,
    findings: Vec<String>,
}

impl Expectation {
    fn rules(&self) -> RuleSet {
        let text = std::fs::read_to_string(fixtures_dir().join("rules").join(&self.rules))
            .expect("rules fixture");
        RuleSet::from_document(&text).expect("rules fixture is valid")
    }

    fn context(&self) -> KeyContext {
        let mut ctx = match &self.key_arn {
            Some(arn) => KeyContext::for_key_arn(arn),
            None => KeyContext::for_account(self.account.as_deref()),
        };
        ctx.organization = self.organization.clone();
        ctx
    }
}

fn read_expectation(path: &Path) -> Expectation {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut e = Expectation {
        account: Some(DEFAULT_OWNER.to_owned()),
        rules: "org.yaml".to_owned(),
        key_arn: None,
        organization: None,
        findings: Vec::new(),
    };
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        match line.split_once(' ') {
            Some(("@account", "-")) => e.account = None,
            Some(("@account", v)) => e.account = Some(v.to_owned()),
            Some(("@rules", v)) => e.rules = v.to_owned(),
            Some(("@key-arn", v)) => e.key_arn = Some(v.to_owned()),
            Some(("@org", v)) => {
                let (id, accounts) = v.split_once(' ').unwrap_or((v, ""));
                e.organization = Some(std::sync::Arc::new(Organization {
                    id: id.to_owned(),
                    accounts: accounts.split(',').map(str::to_owned).collect(),
                }));
            }
            Some((rule, at)) if !rule.starts_with('@') => e.findings.push(format!("{rule} {at}")),
            _ => panic!("{}: cannot read line `{line}`", path.display()),
        }
    }
    e.findings.sort();
    e
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("fixtures directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Runs every fixture under `fixtures/<kind>` (at least `min` of them) through `judge`, and
/// compares each one's findings, each spelled by `line`, with its expectation.
fn compare_fixtures(
    kind: &str,
    min: usize,
    judge: impl Fn(&str, &RuleSet, &KeyContext) -> engine::Report,
    line: impl Fn(&engine::Finding) -> String,
) {
    let mut files = Vec::new();
    json_files(&fixtures_dir().join(kind), &mut files);
    files.sort();
    assert!(files.len() >= min, "fixtures went missing: {}", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let expected = read_expectation(&file.with_extension("expect"));
        let text = std::fs::read_to_string(file).expect("fixture");
        let report = judge(&text, &expected.rules(), &expected.context());
        let mut got: Vec<String> = report.findings.iter().map(&line).collect();
        got.sort();
        if got != expected.findings {
            let messages: Vec<String> = report
                .findings
                .iter()
                .map(|f| format!("    {}: {}", f.rule, f.message))
                .collect();
            failures.push(format!(
                "{}\n  expected {:?}\n  got      {:?}\n{}",
                file.strip_prefix(fixtures_dir()).unwrap_or(file).display(),
                expected.findings,
                got,
                messages.join("\n")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_fixture_gets_its_expected_findings() {
    compare_fixtures(
        "policies",
        100,
        |text, rules, ctx| {
            let policy = Policy::parse(text).unwrap_or_else(|e| panic!("{e}"));
            evaluate(&policy, rules, ctx)
        },
        |f| {
            let at = f.statement.map_or("-".to_owned(), |i| i.to_string());
            format!("{} {at}", f.rule)
        },
    );
}

#[test]
fn every_grant_fixture_gets_its_expected_findings() {
    compare_fixtures(
        "grants",
        20,
        |text, rules, ctx| {
            let grant: KeyGrant = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"));
            let report = evaluate_grant(&grant, rules, ctx);
            assert!(
                report
                    .findings
                    .iter()
                    .all(|f| f.grant.as_deref() == Some(grant.grant_id.as_str())),
                "every grant finding names its grant"
            );
            report
        },
        |f| {
            format!(
                "{} {}",
                f.rule,
                serde_json::to_value(f.action)
                    .unwrap_or_default()
                    .as_str()
                    .unwrap_or("?")
            )
        },
    );
}

#[test]
fn every_rule_has_a_case_that_flags_it_and_a_look_alike_that_does_not() {
    let (mut policies, mut grants) = (Vec::new(), Vec::new());
    json_files(&fixtures_dir().join("policies"), &mut policies);
    json_files(&fixtures_dir().join("grants"), &mut grants);
    for rule in engine::RuleId::ALL {
        let files = if rule.is_grant_rule() {
            &grants
        } else {
            &policies
        };
        let flagged = files.iter().any(|f| {
            let e = read_expectation(&f.with_extension("expect"));
            e.findings
                .iter()
                .any(|l| l.starts_with(&format!("{rule} ")))
        });
        assert!(flagged, "no fixture expects `{rule}`");
    }
    // Every rule's group holds at least one look-alike (`ok-…`) that must stay compliant.
    let files: Vec<PathBuf> = policies.into_iter().chain(grants).collect();
    let mut groups: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    groups.sort();
    groups.dedup();
    for group in groups.iter().filter(|g| !g.ends_with("real-world")) {
        let has_look_alike = files.iter().any(|f| {
            f.parent() == Some(group.as_path())
                && f.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("ok-"))
        });
        assert!(
            has_look_alike,
            "{} has no `ok-` look-alike",
            group.display()
        );
    }
}
