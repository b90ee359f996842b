//! The CLI's three renderings of its results: readable lines, the JSON contract the README
//! documents, and SARIF 2.1.0 for GitHub code scanning.

use super::Checked;
use engine::policy::json::line_column;
use engine::report::Finding;
use engine::rules::{RuleId, RuleSet, Severity};
use serde_json::{Value, json};
use std::io::{self, Write};

/// Where in `text` the finding is: its span, or for a grant finding the grant's id.
fn position(text: &str, finding: &Finding) -> usize {
    match &finding.grant {
        Some(id) if finding.span.start == finding.span.end => {
            text.find(&format!("\"{id}\"")).map_or(0, |at| at + 1)
        }
        _ => finding.span.start,
    }
}

fn line_of(text: &str, finding: &Finding) -> usize {
    line_column(text, position(text, finding)).0
}

pub(super) fn human(
    results: &[Checked],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    let (mut compliant, mut violating, mut failed) = (0, 0, 0);
    for r in results {
        match &r.outcome {
            Err(reason) => {
                failed += 1;
                writeln!(err, "{}: error: {reason}", r.source)?;
            }
            Ok((text, report)) => {
                if report.is_compliant() {
                    compliant += 1;
                    writeln!(out, "{}: compliant", r.source)?;
                } else {
                    violating += 1;
                    let n = report.findings.len();
                    writeln!(
                        out,
                        "{}: {n} violation{}",
                        r.source,
                        if n == 1 { "" } else { "s" }
                    )?;
                }
                for f in &report.findings {
                    let place = match (f.statement, &f.sid, &f.grant) {
                        (_, _, Some(grant)) => format!("grant {grant}"),
                        (Some(i), Some(sid), None) => format!("statement {i} ({sid:?})"),
                        (Some(i), None, None) => format!("statement {i}"),
                        (None, _, None) => "policy".to_owned(),
                    };
                    writeln!(
                        out,
                        "  {:<8} {:<26} {place}, line {}: {}",
                        severity_label(f.severity),
                        f.rule.as_str(),
                        line_of(text, f),
                        f.message
                    )?;
                }
                for note in &report.notes {
                    writeln!(out, "  note: {note}")?;
                }
            }
        }
    }
    if results.len() > 1 {
        writeln!(
            out,
            "{} policies checked: {compliant} compliant, {violating} with violations, {failed} could not be checked",
            results.len()
        )?;
    }
    Ok(())
}

fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Low => "LOW",
    }
}

pub(super) fn json(results: &[Checked], out: &mut dyn Write) -> io::Result<()> {
    let results: Vec<Value> = results
        .iter()
        .map(|r| match &r.outcome {
            Err(reason) => json!({"source": r.source, "error": reason}),
            Ok((text, report)) => {
                let findings: Vec<Value> = report
                    .findings
                    .iter()
                    .map(|f| {
                        let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
                        if let Value::Object(map) = &mut v {
                            map.insert("line".to_owned(), json!(line_of(text, f)));
                        }
                        v
                    })
                    .collect();
                json!({
                    "source": r.source,
                    "compliant": report.is_compliant(),
                    "findings": findings,
                    "notes": report.notes,
                })
            }
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &json!({ "results": results }))?;
    writeln!(out)
}

/// GitHub ranks code-scanning alerts by this property (0.1–10).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// A relative path as a SARIF URI reference (percent-encoding what a URI cannot hold).
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) fn sarif(results: &[Checked], rules: &RuleSet, out: &mut dyn Write) -> io::Result<()> {
    let rule_descriptors: Vec<Value> = RuleId::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.as_str(),
                "name": r.as_str(),
                "shortDescription": {"text": r.description()},
                "fullDescription": {"text": r.description()},
                // Relative to the repository root: what the rule flags, an example that
                // fires, a look-alike that does not, how to fix it.
                "helpUri": r.doc_path(),
                "defaultConfiguration": {
                    "level": if rules.is_on(*r) { sarif_level(r.severity()) } else { "none" },
                    "enabled": rules.is_on(*r),
                },
                "properties": {
                    "security-severity": security_severity(r.severity()),
                    "tags": ["security", "kms"],
                },
            })
        })
        .collect();
    let mut sarif_results = Vec::new();
    let mut notifications = Vec::new();
    for r in results {
        match &r.outcome {
            Err(reason) => notifications.push(json!({
                "level": "error",
                "message": {"text": format!("{}: {reason}", r.source)},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(&r.source)}}}],
            })),
            Ok((text, report)) => {
                for f in &report.findings {
                    let (line, column) = line_column(text, position(text, f));
                    sarif_results.push(json!({
                        "ruleId": f.rule.as_str(),
                        "ruleIndex": f.rule as usize,
                        "level": sarif_level(f.severity),
                        "message": {"text": f.message},
                        "locations": [{
                            "physicalLocation": {
                                "artifactLocation": {"uri": uri(&r.source)},
                                "region": {"startLine": line, "startColumn": column},
                            }
                        }],
                        "partialFingerprints": {
                            "kmsGuardrail/v1": format!(
                                "{}:{}:{}",
                                f.rule.as_str(),
                                f.grant
                                    .as_deref()
                                    .or(f.sid.as_deref())
                                    .map_or_else(|| format!("{:?}", f.statement), str::to_owned),
                                f.principals.join(",")
                            ),
                        },
                    }));
                }
            }
        }
    }
    let document = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kms-guardrail",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rule_descriptors,
            }},
            "invocations": [{
                "executionSuccessful": notifications.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": sarif_results,
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}
