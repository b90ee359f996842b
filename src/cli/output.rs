//! The CLI's three renderings of its results — readable lines, the JSON contract the README
//! documents, SARIF 2.1.0 for GitHub code scanning — one input at a time: each input is
//! rendered on its own (on any worker thread) and written in input order as soon as it is
//! ready, so output streams and memory stays flat however many inputs there are.

use super::{Checked, Exit, Format};
use engine::report::Finding;
use engine::rules::{RuleId, RuleSet, Severity};
use serde::Serialize;
use serde_json::json;
use std::io::{self, Write};

/// One input, rendered and ready to be written in its place.
#[derive(Debug)]
pub(super) struct Rendered {
    /// Its verdict.
    exit: Exit,
    /// For standard output: human lines; one JSON result object; SARIF result objects
    /// joined by commas (empty when it has no finding).
    out: String,
    /// For standard error: why it could not be checked (human format).
    err: String,
    /// SARIF: the tool-execution notification of an input that could not be checked.
    notification: Option<String>,
}

/// What has been written so far.
#[derive(Debug)]
pub(super) struct Tally {
    /// The worst verdict yet.
    pub exit: Exit,
    compliant: usize,
    violating: usize,
    failed: usize,
    /// Whether a JSON or SARIF array member was written (the next one needs a comma).
    wrote: bool,
    /// SARIF: one notification per input that could not be checked, for the closing
    /// `invocations` record (the only thing kept per input, and only for failed ones).
    notifications: Vec<String>,
}

/// Renders results in one format.
#[derive(Debug, Clone, Copy)]
pub(super) struct Renderer<'r> {
    /// The format.
    pub format: Format,
    /// The rules (SARIF lists each with whether it is on).
    pub rules: &'r RuleSet,
}

/// Line and column lookups in one text: the line starts are found once, then each finding's
/// position is a binary search (a policy with many findings stays linear).
struct Lines<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Self {
        // Counted first, so the starts are one allocation of their size. `memchr` scans
        // many bytes at a time: the byte-at-a-time count and collect cost 3.6k instructions
        // per file, a tenth of the CLI's (callgrind over the fixture policies).
        let newlines = || memchr::memchr_iter(b'\n', text.as_bytes());
        let mut starts = Vec::with_capacity(1 + newlines().count());
        starts.push(0);
        starts.extend(newlines().map(|at| at + 1));
        Lines { text, starts }
    }

    /// 1-based line and character column of `finding` in the text: its span, or for a
    /// grant finding its grant id.
    fn of(&self, finding: &Finding) -> (usize, usize) {
        let offset = match &finding.grant {
            Some(id) if finding.span.start == finding.span.end => {
                self.text.find(&format!("\"{id}\"")).map_or(0, |at| at + 1)
            }
            _ => finding.span.start,
        };
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count());
        (line, column + 1)
    }
}

/// A finding as `--format json` prints it: its members and the line it is on.
#[derive(Serialize)]
struct JsonFinding<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    line: usize,
}

#[derive(Serialize)]
#[serde(untagged)]
enum JsonResult<'a> {
    Checked {
        source: &'a str,
        compliant: bool,
        findings: Vec<JsonFinding<'a>>,
        notes: &'a [String],
    },
    Failed {
        source: &'a str,
        error: &'a str,
    },
}

impl Renderer<'_> {
    /// Writes what comes before the first input.
    pub(super) fn start(&self, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            Format::Human => Ok(()),
            Format::Json => out.write_all(b"{\"results\": [\n"),
            Format::Sarif => {
                let tool = json!({"driver": {
                    "name": "kms-guardrail",
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": self.rule_descriptors(),
                }});
                write!(
                    out,
                    "{{\"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\", \"version\": \"2.1.0\", \"runs\": [{{\n\"tool\": {tool},\n\"results\": [\n"
                )
            }
        }
    }

    /// Renders one input.
    pub(super) fn render(&self, checked: &Checked) -> Rendered {
        let source = checked.source.as_str();
        let (text, report) = match &checked.outcome {
            Err(reason) => {
                let mut rendered = Rendered {
                    exit: Exit::CouldNotCheck,
                    out: String::new(),
                    err: String::new(),
                    notification: None,
                };
                match self.format {
                    Format::Human => rendered.err = format!("{source}: error: {reason}\n"),
                    Format::Json => {
                        rendered.out = to_json(&JsonResult::Failed {
                            source,
                            error: reason,
                        });
                    }
                    Format::Sarif => {
                        rendered.notification = Some(
                            json!({
                                "level": "error",
                                "message": {"text": format!("{source}: {reason}")},
                                "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(source)}}}],
                            })
                            .to_string(),
                        );
                    }
                }
                return rendered;
            }
            Ok(checked) => checked,
        };
        let exit = if report.is_compliant() {
            Exit::Compliant
        } else {
            Exit::Violations
        };
        let lines = Lines::new(if report.findings.is_empty() { "" } else { text });
        let out = match self.format {
            Format::Human => human(source, report, &lines),
            Format::Json => to_json(&JsonResult::Checked {
                source,
                compliant: report.is_compliant(),
                findings: report
                    .findings
                    .iter()
                    .map(|finding| JsonFinding {
                        finding,
                        line: lines.of(finding).0,
                    })
                    .collect(),
                notes: &report.notes,
            }),
            Format::Sarif => {
                let results: Vec<String> = report
                    .findings
                    .iter()
                    .map(|f| sarif_result(source, f, lines.of(f)))
                    .collect();
                results.join(",\n")
            }
        };
        Rendered {
            exit,
            out,
            err: String::new(),
            notification: None,
        }
    }

    /// Writes one rendered input after those before it.
    pub(super) fn write(
        &self,
        tally: &mut Tally,
        rendered: Rendered,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<()> {
        tally.exit = tally.exit.max(rendered.exit);
        match rendered.exit {
            Exit::Compliant => tally.compliant += 1,
            Exit::Violations => tally.violating += 1,
            Exit::CouldNotCheck => tally.failed += 1,
        }
        tally.notifications.extend(rendered.notification);
        err.write_all(rendered.err.as_bytes())?;
        if rendered.out.is_empty() {
            return Ok(());
        }
        if self.format != Format::Human && std::mem::replace(&mut tally.wrote, true) {
            out.write_all(b",\n")?;
        }
        out.write_all(rendered.out.as_bytes())
    }

    /// Writes what comes after the last input.
    pub(super) fn finish(&self, tally: &Tally, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            Format::Human => {
                let checked = tally.compliant + tally.violating + tally.failed;
                if checked > 1 {
                    writeln!(
                        out,
                        "{checked} policies checked: {} compliant, {} with violations, {} could not be checked",
                        tally.compliant, tally.violating, tally.failed
                    )?;
                }
                Ok(())
            }
            Format::Json => out.write_all(b"\n]}\n"),
            Format::Sarif => writeln!(
                out,
                "\n],\n\"invocations\": [{{\"executionSuccessful\": {}, \"toolExecutionNotifications\": [{}]}}]\n}}]}}",
                tally.notifications.is_empty(),
                tally.notifications.join(",\n")
            ),
        }
    }

    fn rule_descriptors(&self) -> Vec<serde_json::Value> {
        let rules = self.rules;
        RuleId::ALL
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
            .collect()
    }
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            exit: Exit::Compliant,
            compliant: 0,
            violating: 0,
            failed: 0,
            wrote: false,
            notifications: Vec::new(),
        }
    }
}

/// Compact JSON of a value that always serializes (borrowed strings, numbers, lists); were
/// it ever to fail, the failure stands in its place as a JSON string, so the document stays
/// valid.
fn to_json(value: &impl Serialize) -> String {
    // Sized for a typical result (a few hundred bytes): serde_json's own start of 128 bytes
    // grew twice for most, and a growing buffer's realloc costs more than the writing.
    let mut out = Vec::with_capacity(512);
    serde_json::to_writer(&mut out, value)
        .map_err(|e| e.to_string())
        // serde_json writes UTF-8 only: this cannot fail, short of a serde_json bug.
        .and_then(|()| String::from_utf8(out).map_err(|e| e.to_string()))
        .unwrap_or_else(|e| json!({ "error": e }).to_string())
}

fn human(source: &str, report: &engine::Report, lines: &Lines<'_>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let n = report.findings.len();
    let _ = if n == 0 {
        writeln!(out, "{source}: compliant")
    } else {
        writeln!(
            out,
            "{source}: {n} violation{}",
            if n == 1 { "" } else { "s" }
        )
    };
    for f in &report.findings {
        let place = match (f.statement, &f.sid, &f.grant) {
            (_, _, Some(grant)) => format!("grant {grant}"),
            (Some(i), Some(sid), None) => format!("statement {i} ({sid:?})"),
            (Some(i), None, None) => format!("statement {i}"),
            (None, _, None) => "policy".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {:<8} {:<26} {place}, line {}: {}",
            severity_label(f.severity),
            f.rule.as_str(),
            lines.of(f).0,
            f.message
        );
    }
    for note in &report.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    out
}

fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Low => "LOW",
    }
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

fn sarif_result(source: &str, f: &Finding, (line, column): (usize, usize)) -> String {
    json!({
        "ruleId": f.rule.as_str(),
        "ruleIndex": f.rule as usize,
        "level": sarif_level(f.severity),
        "message": {"text": f.message},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": uri(source)},
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
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::policy::json::Span;
    use engine::rules::RuleAction;

    fn at(start: usize) -> Finding {
        Finding {
            rule: RuleId::PublicAccess,
            severity: Severity::Critical,
            action: RuleAction::Alert,
            statement: None,
            sid: None,
            principals: Vec::new(),
            actions: Vec::new(),
            message: String::new(),
            span: Span {
                start,
                end: start + 1,
            },
            grant: None,
        }
    }

    #[test]
    fn lines_and_columns_count_lines_and_characters() {
        let text = "{\n  \"a\": \"é\",\r\n\n  \"b\": 1\n}";
        let lines = Lines::new(text);
        let find = |needle: &str| text.find(needle).expect("in the text");
        assert_eq!(lines.of(&at(0)), (1, 1));
        assert_eq!(lines.of(&at(find("\"a\""))), (2, 3));
        // Columns count characters: `é` is two bytes, one column.
        assert_eq!(lines.of(&at(find(",")),), (2, 11));
        assert_eq!(lines.of(&at(find("\"b\""))), (4, 3));
        assert_eq!(lines.of(&at(find("}"))), (5, 1));
        // Past the end: the last position.
        assert_eq!(lines.of(&at(text.len() + 10)), (5, 2));
    }
}
