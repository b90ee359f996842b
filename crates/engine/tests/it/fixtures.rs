//! Data-driven verdicts: every `tests/fixtures/policies/<group>/<case>.json` is evaluated and
//! its findings compared with `<case>.expect`. Adding a case means adding two files.
//!
//! `.expect` format: `#` lines describe the case; `@account ID|-`, `@rules FILE` (under
//! `tests/fixtures/rules/`, default `org.yaml`) and `@key-arn ARN` set the context; every
//! other line is `<rule-id> <statement index | ->`, one per expected finding. No such line
//! means the policy must be compliant.

use engine::{KeyContext, Policy, RuleSet, evaluate};
use std::path::{Path, PathBuf};

const DEFAULT_OWNER: &str = "111122223333";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

struct Expectation {
    account: Option<String>,
    rules: String,
    key_arn: Option<String>,
    findings: Vec<String>,
}

fn read_expectation(path: &Path) -> Expectation {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut e = Expectation {
        account: Some(DEFAULT_OWNER.to_owned()),
        rules: "org.yaml".to_owned(),
        key_arn: None,
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
            Some((rule, at)) if !rule.starts_with('@') => e.findings.push(format!("{rule} {at}")),
            _ => panic!("{}: cannot read line `{line}`", path.display()),
        }
    }
    e.findings.sort();
    e
}

fn policy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("fixtures directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            policy_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn every_fixture_gets_its_expected_findings() {
    let mut files = Vec::new();
    policy_files(&fixtures_dir().join("policies"), &mut files);
    files.sort();
    assert!(files.len() >= 100, "fixtures went missing: {}", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let expect_path = file.with_extension("expect");
        let expected = read_expectation(&expect_path);
        let rules_text =
            std::fs::read_to_string(fixtures_dir().join("rules").join(&expected.rules))
                .expect("rules fixture");
        let rules = RuleSet::from_document(&rules_text).expect("rules fixture is valid");
        let ctx = match &expected.key_arn {
            Some(arn) => KeyContext::for_key_arn(arn),
            None => KeyContext::for_account(expected.account.as_deref()),
        };
        let text = std::fs::read_to_string(file).expect("policy fixture");
        let policy = Policy::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let report = evaluate(&policy, &rules, &ctx);
        let mut got: Vec<String> = report
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f.rule,
                    f.statement.map_or("-".to_owned(), |i| i.to_string())
                )
            })
            .collect();
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
fn every_rule_has_a_case_that_flags_it_and_a_look_alike_that_does_not() {
    let mut files = Vec::new();
    policy_files(&fixtures_dir().join("policies"), &mut files);
    for rule in engine::RuleId::ALL {
        let flagged = files.iter().any(|f| {
            let e = read_expectation(&f.with_extension("expect"));
            e.findings
                .iter()
                .any(|l| l.starts_with(&format!("{rule} ")))
        });
        assert!(flagged, "no fixture expects `{rule}`");
    }
    // Every rule's group holds at least one look-alike (`ok-…`) that must stay compliant.
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
