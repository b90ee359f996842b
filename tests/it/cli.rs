//! The real `kms-guardrail` binary: exit codes, output shapes (human, JSON, SARIF), standard
//! input, and one-line errors for everything that cannot be checked.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const OWNER: &str = "111122223333";

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/engine/tests/fixtures")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

fn compliant() -> String {
    fixture("policies/real-world/console-admins-and-users.json")
}

fn public() -> String {
    fixture("policies/real-world/public-decrypt-incident.json")
}

fn org_rules() -> String {
    fixture("rules/org.yaml")
}

/// The shipped example rules: the fixture organization, with `revert` for the exposure rules.
fn revert_rules() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/rules.yaml")
        .to_string_lossy()
        .into_owned()
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kms-guardrail"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(bytes) = stdin {
            input.write_all(bytes).expect("write stdin");
        }
    }
    child.wait_with_output().expect("binary finishes")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(o)))
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kms-guardrail-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

/// Asserts the run could not check (exit 2) and said why in one line containing `reason`.
fn assert_could_not_check(o: &Output, reason: &str) {
    assert_eq!(code(o), 2);
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(reason), "{err}");
}

/// Runs `check` for the fixture organization (its rules, its owner account) with `args`.
fn check_org(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let rules = org_rules();
    let mut full = vec!["check", "--rules", rules.as_str(), "--account", OWNER];
    full.extend_from_slice(args);
    run(&full, stdin)
}

/// Writes `rules` to a temporary rules document and runs `check --rules <it> ARGS…`.
fn check_with_rules(name: &str, rules: &str, args: &[&str]) -> Output {
    let path = temp_file(name, rules.as_bytes());
    let mut full = vec!["check", "--rules", path.to_str().expect("path")];
    full.extend_from_slice(args);
    run(&full, None)
}

#[test]
fn compliant_policy_exits_zero() {
    let o = check_org(&[&compliant()], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).ends_with(": compliant\n"), "{}", stdout(&o));
}

#[test]
fn violations_exit_one_and_name_rule_statement_and_line() {
    let o = check_org(&[&public()], None);
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    assert!(out.contains("3 violations"), "{out}");
    assert!(out.contains("public-access"), "{out}");
    assert!(out.contains("statement 2 (\"backup\"), line 38:"), "{out}");
}

#[test]
fn owner_account_comes_from_the_rules_document() {
    let rules = format!(
        "version: 1\naccount: \"{OWNER}\"\nadmins: [\"arn:aws:iam::${{account}}:role/KeyAdmin\"]\n"
    );
    let o = check_with_rules("with-account.yaml", &rules, &[&compliant()]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    // Without any owner, the owner's own root delegation is an external account.
    let o = run(&["check", &compliant()], None);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("note: the owner account is unknown"));
}

#[test]
fn stdin_is_read_for_dash() {
    let text = std::fs::read(public()).expect("fixture");
    let o = run(
        &["check", "--account", OWNER, "--format", "json", "-"],
        Some(&text),
    );
    assert_eq!(code(&o), 1);
    assert_eq!(json(&o)["results"][0]["source"], "stdin");
}

#[test]
fn stdin_cannot_be_read_twice() {
    let text = std::fs::read(compliant()).expect("fixture");
    let o = check_org(&["-", "-"], Some(&text));
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o),
        "stdin: error: standard input was already read by an earlier `-`\n"
    );
}

#[test]
fn json_output_has_the_documented_shape() {
    let missing = "/nonexistent/policy.json";
    let o = check_org(
        &["--format", "json", &public(), &compliant(), missing],
        None,
    );
    assert_eq!(
        code(&o),
        2,
        "an input that could not be checked wins over violations"
    );
    let v = json(&o);
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["compliant"], false);
    let f = &results[0]["findings"][0];
    for field in [
        "rule",
        "severity",
        "statement",
        "sid",
        "principals",
        "actions",
        "message",
    ] {
        assert!(f.get(field).is_some(), "finding lacks `{field}`: {f}");
    }
    assert_eq!(f["rule"], "public-access");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["statement"], 2);
    assert_eq!(f["sid"], "backup");
    assert_eq!(f["principals"], serde_json::json!(["*"]));
    assert_eq!(
        f["actions"],
        serde_json::json!(["kms:CreateGrant", "kms:Decrypt"])
    );
    assert_eq!(results[1]["compliant"], true);
    assert_eq!(results[1]["findings"], serde_json::json!([]));
    assert_eq!(results[2]["source"], missing);
    assert!(
        results[2]["error"]
            .as_str()
            .expect("error")
            .starts_with("cannot read:")
    );
}

#[test]
fn sarif_output_is_code_scanning_shaped() {
    let o = check_org(&["--format", "sarif", &public()], None);
    assert_eq!(code(&o), 1);
    let v = json(&o);
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "kms-guardrail");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(rules.len(), kms_guardrail::engine::RuleId::ALL.len());
    // Every rule's help points at its section of docs/rules.md, which exists.
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md"))
        .expect("docs/rules.md");
    for r in run["tool"]["driver"]["rules"].as_array().expect("rules") {
        let id = r["id"].as_str().expect("id");
        assert_eq!(r["helpUri"], format!("docs/rules.md#{id}"));
        assert!(
            docs.contains(&format!("\n## {id}\n")),
            "docs/rules.md has no section for {id}"
        );
    }
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "public-access");
    assert_eq!(
        rules[result["ruleIndex"].as_u64().expect("index") as usize],
        "public-access"
    );
    assert_eq!(result["level"], "error");
    let location = &result["locations"][0]["physicalLocation"];
    assert!(
        location["artifactLocation"]["uri"]
            .as_str()
            .expect("uri")
            .ends_with("public-decrypt-incident.json")
    );
    assert_eq!(location["region"]["startLine"], 38);
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
}

#[test]
fn invalid_json_is_one_line_with_position() {
    let bad = temp_file("bad.json", b"{\n  \"Statement\": [\n}\n");
    let o = run(&["check", bad.to_str().expect("path")], None);
    assert_could_not_check(&o, "invalid JSON at line 3, column 1: expected a value");
}

#[test]
fn non_utf8_and_non_object_inputs_could_not_be_checked() {
    let latin1 = temp_file("latin1.json", b"{\"Id\": \"caf\xe9\"}");
    let array = temp_file("array.json", b"[]");
    let o = run(
        &[
            "check",
            latin1.to_str().expect("path"),
            array.to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(err.contains("not UTF-8 text"), "{err}");
    assert!(
        err.contains("a key policy must be a JSON object, found an array"),
        "{err}"
    );
}

#[test]
fn invalid_rules_name_the_field_and_check_nothing() {
    let o = check_with_rules(
        "bad-rules.yaml",
        "version: 1\ntrusted_accounts: [\"12345\"]\n",
        &[&compliant()],
    );
    assert_eq!(stdout(&o), "");
    assert_could_not_check(
        &o,
        "trusted_accounts[0]: `12345` is not a 12-digit AWS account id",
    );
}

#[test]
fn bad_arguments_are_one_line() {
    for args in [
        vec!["check", "--format", "xml", "p.json"],
        vec!["check", "--account", "12345", "p.json"],
        vec!["check", "--key-arn", "arn:aws:s3:::bucket", "p.json"],
        vec!["check"],
        vec!["frobnicate"],
        vec!["sweep", "--account", "12345"],
        vec!["sweep", "--region", "US_EAST_1"],
        vec!["sweep", "--region", "arn:aws:kms"],
    ] {
        let o = run(&args, None);
        assert_eq!(code(&o), 2, "{args:?}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("kms-guardrail: "), "{err}");
    }
}

#[test]
fn help_exits_zero() {
    let o = run(&["check", "--help"], None);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("--format"));
}

#[test]
fn rules_action_off_silences_a_rule() {
    let o = check_with_rules(
        "public-off.yaml",
        "version: 1\nrules:\n  public-access: off\n  unconstrained-grant: off\n",
        &["--account", OWNER, "--format", "json", &public()],
    );
    let v = json(&o);
    let rules_found: Vec<&str> = v["results"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().expect("rule"))
        .collect();
    assert!(!rules_found.contains(&"public-access"), "{rules_found:?}");
    assert!(
        !rules_found.contains(&"unconstrained-grant"),
        "{rules_found:?}"
    );
    // KeyAdmin is not an admin under these rules, so the administration grant still shows.
    assert!(rules_found.contains(&"untrusted-admin"), "{rules_found:?}");
}

#[test]
fn fix_strips_the_public_grant_and_the_result_checks_compliant() {
    let rules = revert_rules();
    let o = run(&["fix", "--rules", &rules, &public()], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let said = stderr(&o);
    assert!(said.contains("statement 2 (\"backup\"): removed"), "{said}");
    let fixed = stdout(&o);
    let text = std::fs::read_to_string(public()).expect("fixture");
    let kept: Value = serde_json::from_str(&fixed).expect("fixed policy is JSON");
    let original: Value = serde_json::from_str(&text).expect("fixture is JSON");
    assert_eq!(
        kept["Statement"].as_array().expect("list").len() + 1,
        original["Statement"].as_array().expect("list").len()
    );
    let o = run(&["check", "--rules", &rules, "-"], Some(fixed.as_bytes()));
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}

#[test]
fn fix_prefers_a_passing_baseline() {
    let rules = revert_rules();
    let o = run(
        &[
            "fix",
            "--rules",
            &rules,
            "--account",
            OWNER,
            "--baseline",
            &compliant(),
            &public(),
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("restored the last known-good policy"));
    let expected = std::fs::read_to_string(compliant()).expect("fixture");
    assert_eq!(stdout(&o), expected);
}

#[test]
fn fix_without_a_safe_policy_exits_one() {
    let locked = fixture("policies/lockout-risk/no-put-key-policy.json");
    let o = run(&["fix", "--account", OWNER, &locked], None);
    assert_eq!(code(&o), 1);
    assert_eq!(stdout(&o), "", "nothing is printed that could be written");
    assert!(
        stderr(&o).contains("no safe policy to put back"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn fix_of_a_compliant_policy_prints_it_unchanged() {
    let rules = org_rules();
    let o = run(
        &["fix", "--rules", &rules, "--account", OWNER, &compliant()],
        None,
    );
    assert_eq!(code(&o), 0);
    assert_eq!(
        stdout(&o),
        std::fs::read_to_string(compliant()).expect("fixture")
    );
}

#[test]
fn fix_of_invalid_json_could_not_check() {
    let o = run(&["fix", "-"], Some(b"{\"Statement\": ["));
    assert_could_not_check(&o, "stdin: invalid JSON at line 1, column 16");
}

/// `aws kms list-grants` output for one key: a foreign account's unconstrained decrypt grant
/// and an own-account role's.
const LISTING: &str = r#"{
    "Grants": [
        {
            "KeyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "GrantId": "own-app",
            "Name": "",
            "CreationDate": "2026-11-30T10:00:00+00:00",
            "GranteePrincipal": "arn:aws:iam::111122223333:role/App",
            "IssuingAccount": "arn:aws:iam::111122223333:root",
            "Operations": ["Decrypt", "Encrypt"]
        },
        {
            "KeyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "GrantId": "foreign-reader",
            "Name": "",
            "CreationDate": "2026-11-30T10:05:00+00:00",
            "GranteePrincipal": "arn:aws:iam::999988887777:role/Reader",
            "IssuingAccount": "arn:aws:iam::111122223333:root",
            "Operations": ["Decrypt"]
        }
    ],
    "Truncated": false
}"#;

#[test]
fn grant_listings_are_checked_by_shape_with_the_same_rules() {
    let out = run(
        &["check", "--rules", &org_rules(), "--format", "json", "-"],
        Some(LISTING.as_bytes()),
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let findings = v["results"][0]["findings"].as_array().expect("findings");
    let got: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().expect("rule"),
                f["grant"]
                    .as_str()
                    .expect("a grant finding names its grant"),
            )
        })
        .collect();
    // Without known membership a foreign account is still reported (alert, never revert);
    // the own-account grant is not.
    assert_eq!(
        got,
        [
            ("grant-untrusted-grantee", "foreign-reader"),
            ("grant-unconstrained", "foreign-reader")
        ]
    );
    // The line points at the grant's id in the listing.
    let line = findings[0]["line"].as_u64().expect("line");
    assert_eq!(
        LISTING
            .lines()
            .nth(usize::try_from(line).expect("small") - 1),
        Some(r#"            "GrantId": "foreign-reader","#)
    );
    // The human form names the grant; the owner comes from the grants' key ARN.
    let human = run(
        &["check", "--rules", &org_rules(), "-"],
        Some(LISTING.as_bytes()),
    );
    assert!(
        stdout(&human).contains("grant foreign-reader"),
        "{}",
        stdout(&human)
    );
    assert!(!stdout(&human).contains("own-app"), "{}", stdout(&human));

    // Only the own grant: compliant.
    let own_only = LISTING.replace("999988887777", OWNER);
    let out = run(
        &["check", "--rules", &org_rules(), "-"],
        Some(own_only.as_bytes()),
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));

    // `--grants` insists on a listing: a policy is a one-line error.
    let out = run(&["check", "--grants", &compliant()], None);
    assert_eq!(code(&out), 2);
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a grant listing"),
        "{}",
        stderr(&out)
    );
    // A listing with a grant missing its id says which field.
    let out = run(
        &["check", "-"],
        Some(br#"{"Grants": [{"Operations": ["Decrypt"]}]}"#),
    );
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("GrantId"), "{}", stderr(&out));
}

/// Peak RSS of `kms-guardrail ARGS` in KiB (GNU time's `%M`), with its output.
fn run_measured(args: &[&str], stdin: Option<std::fs::File>) -> (u64, Output) {
    let mut command = Command::new("/usr/bin/time");
    command
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_kms-guardrail"))
        .args(args);
    if let Some(file) = stdin {
        command.stdin(file);
    }
    let out = command.output().expect("/usr/bin/time runs the binary");
    let err = String::from_utf8_lossy(&out.stderr);
    let kib = err
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {err}"));
    (kib, out)
}

#[test]
fn oversized_inputs_are_reported_too_large_without_being_read() {
    let dir = std::env::temp_dir().join(format!("kms-guardrail-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // 40 KB: over KMS's 32,768 characters, within the reading margin: judged as written.
    let statement = r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#;
    let forty = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        vec![statement; 400].join(",")
    );
    assert!(forty.len() > 40_000);
    let forty_path = dir.join("forty.json");
    std::fs::write(&forty_path, &forty).expect("write");
    // 100 MB: never read (a sparse file costs no disk).
    let huge_path = dir.join("huge.json");
    std::fs::File::create(&huge_path)
        .and_then(|f| f.set_len(100 * 1024 * 1024))
        .expect("sparse file");
    let forty_arg = forty_path.to_string_lossy().into_owned();
    let huge_arg = huge_path.to_string_lossy().into_owned();

    let (small_kib, out) = run_measured(&["check", "--format", "json", &forty_arg], None);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        v["results"][0]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["rule"] == "invalid-policy"
                && f["message"].as_str().is_some_and(|m| m.contains("32768"))),
        "{v}"
    );

    let (huge_kib, out) = run_measured(&["check", "--format", "json", &huge_arg], None);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let finding = &v["results"][0]["findings"][0];
    assert_eq!(finding["rule"], "invalid-policy");
    assert!(
        finding["message"]
            .as_str()
            .is_some_and(|m| m.contains("104857600 bytes") && m.contains("not read")),
        "{finding}"
    );
    // Standard input too: read only to the limit.
    let (stdin_kib, out) = run_measured(
        &["check", "-"],
        Some(std::fs::File::open(&huge_path).expect("open")),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("more than 65536 bytes"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Constant memory: the 100 MB input costs what the 40 KB one does, give or take a few MiB.
    for kib in [huge_kib, stdin_kib] {
        assert!(
            kib < small_kib + 8 * 1024,
            "{kib} KiB for 100 MB vs {small_kib} KiB for 40 KB"
        );
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// Every fixture file (key policies and grant listings) under `dir`, sorted.
fn fixture_files(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("fixture directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            fixture_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path.to_string_lossy().into_owned());
        }
    }
    out.sort();
}

#[test]
fn parallel_output_is_identical_to_a_sequential_run_in_every_format() {
    let mut files = Vec::new();
    fixture_files(Path::new(&fixture("")), &mut files);
    assert!(files.len() > 100, "{} fixtures", files.len());
    // Three rounds of every fixture (more inputs than one round of workers holds), standard
    // input and an unreadable file in the middle.
    let mut inputs: Vec<String> = files.iter().chain(&files).chain(&files).cloned().collect();
    inputs.insert(inputs.len() / 2, "-".to_owned());
    inputs.insert(inputs.len() / 3, "missing.json".to_owned());
    let stdin = std::fs::read(public()).expect("public fixture");
    let rules = org_rules();
    for format in ["human", "json", "sarif"] {
        let run_with = |jobs: &str| {
            let mut args = vec![
                "check", "--rules", &rules, "--format", format, "--jobs", jobs,
            ];
            args.extend(inputs.iter().map(String::as_str));
            let o = run(&args, Some(&stdin));
            assert_eq!(code(&o), 2, "{format} --jobs {jobs}: {}", stderr(&o));
            o
        };
        let sequential = run_with("1");
        for jobs in ["2", "7"] {
            let parallel = run_with(jobs);
            assert!(
                sequential.stdout == parallel.stdout,
                "{format}: --jobs {jobs} printed something else than --jobs 1"
            );
            assert_eq!(
                stderr(&sequential),
                stderr(&parallel),
                "{format} --jobs {jobs}"
            );
        }
        if format == "human" {
            let out = stdout(&sequential);
            let summary = out.lines().last().expect("summary line");
            assert!(
                summary.starts_with(&format!("{} policies checked:", inputs.len())),
                "{summary}"
            );
            continue;
        }
        // The streamed document is one valid JSON document, in input order.
        let doc = json(&sequential);
        if format == "json" {
            let sources: Vec<&str> = doc["results"]
                .as_array()
                .expect("results")
                .iter()
                .map(|r| r["source"].as_str().expect("source"))
                .collect();
            let expected: Vec<&str> = inputs
                .iter()
                .map(|s| if s == "-" { "stdin" } else { s.as_str() })
                .collect();
            assert_eq!(sources, expected);
        } else {
            let run = &doc["runs"][0];
            assert!(run["results"].as_array().expect("results").len() > inputs.len());
            let notes = &run["invocations"][0]["toolExecutionNotifications"];
            assert_eq!(notes.as_array().expect("notifications").len(), 1, "{notes}");
            assert_eq!(run["invocations"][0]["executionSuccessful"], false);
        }
    }
}
