//! `kms-guardrail check`: the evaluator as a command for CI (shift-left), giving the same
//! verdict the Lambda would. Exit 0 when every policy complies, 1 on violations, 2 when
//! something could not be checked — with one line per problem, never a panic.
//! `kms-guardrail fix` prints the policy the guardrail's planner would put back;
//! `kms-guardrail replay` runs the guardrail on a recorded event and `kms-guardrail sweep`
//! sweeps every key of an account and region, both against whatever endpoint the
//! environment names.

mod output;

use clap::{Parser, Subcommand, ValueEnum};
use engine::arn::{Arn, is_account_id};
use engine::grants::KeyContext;
use engine::key_grant;
use engine::remediate;
use engine::report::Finding;
use engine::rules::{RuleAction, RuleId, RuleSet};
use engine::{Policy, Report};
use rayon::prelude::*;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// The process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Every policy complies.
    Compliant = 0,
    /// At least one policy violates an enabled rule.
    Violations = 1,
    /// Something could not be checked (bad argument, unreadable file, invalid JSON or rules).
    CouldNotCheck = 2,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

#[derive(Parser)]
#[command(
    name = "kms-guardrail",
    version,
    about = "Keeps AWS KMS key policies safe"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check key policy files, or grant listings (`aws kms list-grants` output), against the
    /// organization's rules.
    Check(CheckArgs),
    /// Print the policy the guardrail would put back for a violating one: the last
    /// known-good (`--baseline`) if it passes, else the policy with the offending grants
    /// removed. Exit 0 with the policy on stdout, 1 when no safe policy exists.
    Fix(FixArgs),
    /// Run the guardrail once on a recorded event, configured by the same environment as
    /// the Lambda (GUARDRAIL_*, AWS_REGION, AWS_ENDPOINT_URL), against whatever endpoint that
    /// names. Prints the outcome as JSON; exit 0 when the event was handled, 2 when not.
    Replay(ReplayArgs),
    /// Sweep every key of the account in AWS_REGION through the guardrail, configured by the
    /// same environment as the Lambda, paced under GUARDRAIL_SWEEP_QUOTA_PERCENT of each KMS
    /// quota — or, with --account/--region/--organization, every key of each account and
    /// region named, with one combined summary. Monitor only unless --enforce. Prints the
    /// summary as JSON (progress on stderr when it is a terminal); exit 0 when every key
    /// complies, 1 when any violates, 2 when any could not be checked, an account was not
    /// covered or the sweep could not run.
    Sweep(SweepArgs),
}

#[derive(clap::Args)]
struct SweepArgs {
    /// Revert violations as the rules say (without it nothing is written, whatever
    /// GUARDRAIL_MODE says).
    #[arg(long)]
    enforce: bool,
    /// Sweep this account (repeatable); another account than the caller's own is reached
    /// through the member role GUARDRAIL_MEMBER_ROLE names.
    #[arg(long = "account", value_name = "ID", value_parser = parse_account)]
    accounts: Vec<String>,
    /// Sweep this region (repeatable; default AWS_REGION).
    #[arg(long = "region", value_name = "REGION", value_parser = parse_region)]
    regions: Vec<String>,
    /// Sweep every active account of the organization (AWS Organizations ListAccounts).
    #[arg(long)]
    organization: bool,
    /// With --account/--region/--organization: how many account-regions are swept at once
    /// (each paced under its own quotas), 1–64.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: u16,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The EventBridge event (JSON); `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    event: String,
}

/// The rules and what is known of the key: shared by every command.
#[derive(clap::Args)]
struct Target {
    /// Rules document (YAML or JSON). Without it, `check` runs every rule with action
    /// `alert` and `fix` reverts every rule's violations.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// The key owner's account id (else the rules document's `account`, else unknown:
    /// every named account is then external).
    #[arg(long, value_name = "ID", value_parser = parse_account)]
    account: Option<String>,
    /// The key's ARN, when the policy belongs to a known key (sets the account too).
    #[arg(long, value_name = "ARN", value_parser = parse_key_arn)]
    key_arn: Option<String>,
}

#[derive(clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    target: Target,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Read every input as a grant listing (what `aws kms list-grants` prints). Without it,
    /// an input that is a JSON object with a `Grants` array is read as one, any other as a
    /// key policy.
    #[arg(long)]
    grants: bool,
    /// How many inputs are checked at once (default: one per core). The output is the same
    /// whatever the number: written in input order, as results are ready.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=512))]
    jobs: Option<u16>,
    /// Policy files (or grant listings) to check; `-` reads standard input.
    #[arg(required = true, value_name = "POLICY")]
    policies: Vec<String>,
}

#[derive(clap::Args)]
struct FixArgs {
    #[command(flatten)]
    target: Target,
    /// The key's last known-good policy, preferred when it passes today's rules.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// The policy to fix; `-` reads standard input.
    #[arg(value_name = "POLICY")]
    policy: String,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable lines.
    Human,
    /// One JSON object: `{"results": [...]}`.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
}

fn parse_account(s: &str) -> Result<String, String> {
    if is_account_id(s) {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not a 12-digit AWS account id"))
    }
}

fn parse_region(s: &str) -> Result<String, String> {
    if crate::config::is_region(s) {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not an AWS region name"))
    }
}

fn parse_key_arn(s: &str) -> Result<String, String> {
    match Arn::parse(s) {
        Some(arn)
            if arn.service == "kms"
                && arn.resource.starts_with("key/")
                && is_account_id(arn.account) =>
        {
            Ok(s.to_owned())
        }
        _ => Err(format!("`{s}` is not a KMS key ARN")),
    }
}

/// The outcome for one input.
pub(crate) struct Checked {
    /// The file name as given (`-` is shown as `stdin`).
    source: String,
    /// The text and its report, or why it could not be checked.
    outcome: Result<(String, Report), String>,
}

/// Runs the CLI with the process's arguments and standard streams.
pub fn main() -> ExitCode {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run(
        std::env::args_os(),
        &mut stdin.lock(),
        &mut stdout.lock(),
        &mut stderr.lock(),
    )
    .into()
}

/// Runs the CLI: parses `args`, checks, prints, and returns the exit status.
pub fn run(
    args: impl IntoIterator<Item = OsString>,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Exit {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = write!(stdout, "{e}");
            return Exit::Compliant;
        }
        Err(e) => {
            let rendered = e.to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            let _ = writeln!(
                stderr,
                "kms-guardrail: {} (see --help)",
                first.trim_start_matches("error: ")
            );
            return Exit::CouldNotCheck;
        }
    };
    match cli.command {
        Command::Check(args) => check(args, stdin, stdout, stderr),
        Command::Fix(args) => fix(args, stdin, stdout, stderr),
        Command::Replay(args) => replay(args, stdin, stdout, stderr),
        Command::Sweep(args) => sweep(args, stdout, stderr),
    }
}

/// Reads the rules document (or takes `default` without one) and builds the key context.
fn load(target: &Target, default: RuleSet) -> Result<(RuleSet, KeyContext), String> {
    let rules = match &target.rules {
        None => default,
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|text| RuleSet::from_document(&text).map_err(|e| e.to_string()))
            .map_err(|reason| format!("{}: {reason}", path.display()))?,
    };
    let ctx = match &target.key_arn {
        Some(arn) => KeyContext::for_key_arn(arn),
        None => KeyContext::for_account(target.account.as_deref().or(rules.account.as_deref())),
    };
    Ok((rules, ctx))
}

/// How many inputs each worker takes per round: results are written a round at a time, so
/// this (times the workers) bounds what is held in memory.
const ROUND_PER_WORKER: usize = 64;

fn check(
    args: CheckArgs,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Exit {
    let (rules, ctx) = match load(&args.target, RuleSet::default()) {
        Ok(loaded) => loaded,
        Err(reason) => {
            let _ = writeln!(stderr, "kms-guardrail: {reason}");
            return Exit::CouldNotCheck;
        }
    };
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    );
    let jobs = jobs.min(args.policies.len()).max(1);
    let pool = if jobs > 1 {
        match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
            Ok(pool) => Some(pool),
            Err(e) => {
                let _ = writeln!(stderr, "kms-guardrail: cannot start {jobs} workers: {e}");
                return Exit::CouldNotCheck;
            }
        }
    } else {
        None
    };
    let renderer = output::Renderer {
        format: args.format,
        rules: &rules,
    };
    let limit = Limit::Policy {
        grants: args.grants,
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout);
    let mut tally = output::Tally::default();
    let mut stdin_used = false;
    let mut written = renderer.start(&mut out);
    // Standard input is read on this thread, in its place among the files: one entry per
    // input of the round, `None` for a file (read by its worker).
    let mut read_stdin = |round: &'_ [String]| -> Vec<Option<Result<Input, String>>> {
        round
            .iter()
            .map(|source| {
                (source == "-").then(|| read_input(source, stdin, &mut stdin_used, limit))
            })
            .collect()
    };
    let check_round = |round: &[String], from_stdin: Vec<Option<Result<Input, String>>>| {
        let inputs: Vec<(&String, Option<Result<Input, String>>)> =
            round.iter().zip(from_stdin).collect();
        let one = |(source, read): (&String, Option<Result<Input, String>>)| {
            let input = read.unwrap_or_else(|| read_file(source, limit));
            renderer.render(&check_one(source, input, args.grants, &rules, &ctx))
        };
        match &pool {
            Some(_) => inputs.into_par_iter().map(one).collect(),
            None => inputs
                .into_iter()
                .map(one)
                .collect::<Vec<output::Rendered>>(),
        }
    };
    let mut write_round = |rendered: Vec<output::Rendered>, written: &mut std::io::Result<()>| {
        for r in rendered {
            if written.is_err() {
                break;
            }
            *written = renderer.write(&mut tally, r, &mut out, stderr);
        }
    };
    let rounds = args.policies.chunks(jobs * ROUND_PER_WORKER);
    match &pool {
        None => {
            for round in rounds {
                let from_stdin = read_stdin(round);
                write_round(check_round(round, from_stdin), &mut written);
            }
        }
        // The pool checks a round while this thread writes the one before.
        Some(pool) => pool.in_place_scope(|scope| {
            let check_round = &check_round;
            let mut previous: Option<std::sync::mpsc::Receiver<Vec<output::Rendered>>> = None;
            for round in rounds {
                if written.is_err() {
                    break;
                }
                let from_stdin = read_stdin(round);
                let (done, ready) = std::sync::mpsc::sync_channel(1);
                scope.spawn(move |_| {
                    let _ = done.send(check_round(round, from_stdin));
                });
                if let Some(rendered) = previous.replace(ready).and_then(|r| r.recv().ok()) {
                    write_round(rendered, &mut written);
                }
            }
            if let Some(rendered) = previous.and_then(|r| r.recv().ok()) {
                write_round(rendered, &mut written);
            }
        }),
    }
    let written = written
        .and_then(|()| renderer.finish(&tally, &mut out))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => tally.exit,
        Err(e) => {
            let _ = writeln!(stderr, "kms-guardrail: cannot write output: {e}");
            Exit::CouldNotCheck
        }
    }
}

/// Checks one input (a key policy, or a grant listing) as read.
fn check_one(
    source: &str,
    input: Result<Input, String>,
    grants: bool,
    rules: &RuleSet,
    ctx: &KeyContext,
) -> Checked {
    let outcome = input.and_then(|input| {
        let text = match input {
            Input::Text(text) => text,
            // KMS refuses such a policy: judged as it would be, unread.
            Input::TooLarge(size) => {
                let message = format!(
                    "the document is {size}: more than the 32,768 characters KMS accepts in a key policy (not read)"
                );
                let finding = Finding::whole_policy(RuleId::InvalidPolicy, rules, message);
                return Ok((String::new(), Report {
                    findings: vec![finding],
                    notes: Vec::new(),
                }));
            }
        };
        let listing = if grants {
            Some(key_grant::parse_listing(&text))
        } else {
            key_grant::listing(&text)
        };
        if let Some(listing) = listing {
            let listing = listing.map_err(|e| e.to_string())?;
            let report = key_grant::evaluate_listing(&listing, rules, ctx);
            return Ok((text, report));
        }
        match Policy::parse(&text) {
            Ok(policy) => {
                let report = engine::evaluate(&policy, rules, ctx);
                Ok((text, report))
            }
            Err(e) => Err(e.to_string()),
        }
    });
    Checked {
        source: if source == "-" {
            "stdin".to_owned()
        } else {
            source.to_owned()
        },
        outcome,
    }
}

fn fix(
    args: FixArgs,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Exit {
    let mut revert_all = RuleSet::default();
    for rule in RuleId::ALL {
        revert_all.set_action(rule, RuleAction::Revert);
    }
    let source = if args.policy == "-" {
        "stdin"
    } else {
        args.policy.as_str()
    };
    let loaded = load(&args.target, revert_all).and_then(|(rules, ctx)| {
        let baseline = match &args.baseline {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: cannot read: {e}", path.display()))?,
            ),
            None => None,
        };
        let limit = Limit::Policy { grants: false };
        let text = match read_input(&args.policy, stdin, &mut false, limit) {
            Ok(Input::Text(text)) => text,
            Ok(Input::TooLarge(size)) => {
                return Err(format!(
                    "{source}: the policy is {size}: more than KMS accepts (not read)"
                ));
            }
            Err(e) => return Err(format!("{source}: {e}")),
        };
        Ok((rules, ctx, baseline, text))
    });
    let (rules, ctx, baseline, text) = match loaded {
        Ok(loaded) => loaded,
        Err(reason) => {
            let _ = writeln!(stderr, "kms-guardrail: {reason}");
            return Exit::CouldNotCheck;
        }
    };
    let policy = match Policy::parse(&text) {
        Ok(policy) => policy,
        Err(e) => {
            let _ = writeln!(stderr, "kms-guardrail: {source}: {e}");
            return Exit::CouldNotCheck;
        }
    };
    let report = engine::evaluate(&policy, &rules, &ctx);
    if !report
        .findings
        .iter()
        .any(|f| f.action == RuleAction::Revert)
    {
        let _ = writeln!(
            stderr,
            "{source}: nothing to revert; the policy is printed unchanged"
        );
        return match write!(stdout, "{text}") {
            Ok(()) => Exit::Compliant,
            Err(_) => Exit::CouldNotCheck,
        };
    }
    match remediate::plan(&policy, &report, &rules, &ctx, baseline.as_deref()) {
        Ok(plan) => {
            match plan.source {
                remediate::Source::Baseline => {
                    let _ = writeln!(stderr, "{source}: restored the last known-good policy");
                }
                remediate::Source::Stripped => {
                    for line in &plan.removed {
                        let _ = writeln!(stderr, "{source}: {line}");
                    }
                }
            }
            match write!(stdout, "{}", plan.policy) {
                Ok(()) => Exit::Compliant,
                Err(_) => Exit::CouldNotCheck,
            }
        }
        Err(e) => {
            let _ = writeln!(stderr, "{source}: {e}");
            Exit::Violations
        }
    }
}

fn replay(
    args: ReplayArgs,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Exit {
    let source = if args.event == "-" {
        "stdin"
    } else {
        args.event.as_str()
    };
    let input =
        read_input(&args.event, stdin, &mut false, Limit::Event).and_then(|input| match input {
            Input::Text(text) => serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| format!("not JSON: {e}")),
            Input::TooLarge(size) => Err(format!(
                "the event is {size}: more than Lambda's payload limit (not read)"
            )),
        });
    let input = match input {
        Ok(input) => input,
        Err(reason) => {
            let _ = writeln!(stderr, "kms-guardrail: {source}: {reason}");
            return Exit::CouldNotCheck;
        }
    };
    let result = with_app(
        crate::app::MetricsOut::Stderr,
        |_| {},
        async |app| {
            app.handle(&input, crate::sweep::Limits::default())
                .await
                .map_err(|e| format!("{} ({})", e, e.error_type()))
        },
    );
    match result.and_then(|response| write_json(stdout, &response)) {
        Ok(()) => Exit::Compliant,
        Err(reason) => {
            let _ = writeln!(stderr, "kms-guardrail: {source}: {reason}");
            Exit::CouldNotCheck
        }
    }
}

fn sweep(args: SweepArgs, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Exit {
    use crate::guardrail::Mode;
    use crate::sweep::{Counts, Limits, Request};
    use std::io::IsTerminal;
    let mode = if args.enforce {
        Mode::Enforce
    } else {
        Mode::Monitor
    };
    let terminal = std::io::stderr().is_terminal();
    let mut seen = Counts::default();
    let mut shown = std::time::Instant::now();
    let mut progress = |out: &crate::guardrail::Outcome| {
        seen.add(out);
        if terminal && shown.elapsed() >= std::time::Duration::from_millis(200) {
            shown = std::time::Instant::now();
            eprint!(
                "\rkms-guardrail sweep: {} keys, {} violating, {} failed ",
                seen.keys_seen, seen.violating, seen.failed
            );
        }
    };
    let scope = crate::app::org::Scope {
        accounts: args.accounts,
        regions: args.regions,
        organization: args.organization,
    };
    let id = format!("cli-{}", crate::guardrail::now_secs());
    let many = scope != crate::app::org::Scope::default();
    let result = with_app(
        crate::app::MetricsOut::Stderr,
        |config| config.mode = mode,
        async |app| {
            if many {
                let units = app.units(&scope).await.map_err(|e| e.to_string())?;
                let summary = app
                    .sweep_units(&id, &units, usize::from(args.parallel), &mut progress)
                    .await
                    .map_err(|e| e.to_string())?;
                let exit = if summary.totals.failed > 0
                    || !summary.not_covered.is_empty()
                    || !summary.failed_units.is_empty()
                {
                    Exit::CouldNotCheck
                } else {
                    verdict(&summary.totals)
                };
                return Ok((serde_json::to_value(&summary), exit));
            }
            let report = app
                .sweep(
                    &Request::Once { id: id.clone() },
                    Limits::default(),
                    &mut progress,
                )
                .await
                .map_err(|e| format!("{} ({})", e, e.error_type()))?;
            let summary = report.summary.ok_or("nothing was swept")?;
            let exit = if summary.counts.failed > 0 {
                Exit::CouldNotCheck
            } else {
                verdict(&summary.counts)
            };
            Ok((serde_json::to_value(&summary), exit))
        },
    );
    if terminal {
        eprintln!();
    }
    let (summary, exit) = match result {
        Ok((Ok(summary), exit)) => (summary, exit),
        Ok((Err(e), _)) => {
            let _ = writeln!(stderr, "kms-guardrail: sweep: {e}");
            return Exit::CouldNotCheck;
        }
        Err(reason) => {
            let _ = writeln!(stderr, "kms-guardrail: sweep: {reason}");
            return Exit::CouldNotCheck;
        }
    };
    if let Err(reason) = write_json(stdout, &summary) {
        let _ = writeln!(stderr, "kms-guardrail: sweep: {reason}");
        return Exit::CouldNotCheck;
    }
    exit
}

/// 1 when any key policy or grant violates, else 0.
fn verdict(counts: &crate::sweep::Counts) -> Exit {
    if counts.has_violations() {
        Exit::Violations
    } else {
        Exit::Compliant
    }
}

/// Builds the app from the environment (adjusted by `adjust`) on a fresh runtime, with JSON
/// logs on standard error, and runs `work` with it.
fn with_app<T>(
    metrics: crate::app::MetricsOut,
    adjust: impl FnOnce(&mut crate::config::Config),
    work: impl AsyncFnOnce(&crate::app::App) -> Result<T, String>,
) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    crate::app::init_logs(std::io::stderr, "info");
    runtime.block_on(async {
        let mut config = crate::config::Config::from_env(|k| std::env::var(k).ok())
            .map_err(|e| e.to_string())?;
        adjust(&mut config);
        let sdk = crate::app::sdk_config().await;
        let app = crate::app::App::new(config, &sdk, metrics)
            .await
            .map_err(|e| e.to_string())?;
        work(&app).await
    })
}

/// Writes `value` as pretty JSON and a newline.
fn write_json(stdout: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), String> {
    serde_json::to_writer_pretty(&mut *stdout, value)
        .and_then(|()| writeln!(stdout).map_err(serde_json::Error::io))
        .map_err(|e| format!("cannot write output: {e}"))
}

/// The most bytes a policy KMS accepts can take: 32,768 characters, each at most two bytes
/// in UTF-8 (U+0080–U+00FF).
pub const MAX_POLICY_BYTES: u64 = 2 * 32_768;

/// The most bytes of a grant listing read: a key holds at most 50,000 grants, each well
/// under 600 bytes as `aws kms list-grants` prints it.
pub const MAX_LISTING_BYTES: u64 = 32 * 1024 * 1024;

/// How much of an input may be read.
#[derive(Debug, Clone, Copy)]
enum Limit {
    /// A key policy, or a grant listing when the first bytes show one (or `--grants`).
    Policy {
        /// Read as a grant listing whatever its first bytes.
        grants: bool,
    },
    /// An event (Lambda's payload limit).
    Event,
}

/// One input as read: its text, or — past its limit — only how large it is.
enum Input {
    /// The whole text.
    Text(String),
    /// Larger than the limit: `what` says how large; the rest was never read.
    TooLarge(String),
}

/// Reads `source` (`-`: standard input, once) up to `limit`.
fn read_input(
    source: &str,
    stdin: &mut dyn Read,
    stdin_used: &mut bool,
    limit: Limit,
) -> Result<Input, String> {
    if source != "-" {
        return read_file(source, limit);
    }
    if std::mem::replace(stdin_used, true) {
        return Err("standard input was already read by an earlier `-`".to_owned());
    }
    read_limited(stdin, limit)
}

/// Reads the file `path` up to `limit`.
fn read_file(path: &str, limit: Limit) -> Result<Input, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let input = read_limited(&mut file, limit)?;
    // Only a file past the limit is asked its size (one system call fewer per file).
    if let Input::TooLarge(_) = input
        && let Ok(meta) = file.metadata()
    {
        return Ok(Input::TooLarge(format!("{} bytes", meta.len())));
    }
    Ok(input)
}

/// A buffer every key policy fits in (KMS caps one at 32,768 characters): most inputs are
/// read in one call, and one more that finds the end.
const FIRST_READ: usize = 2 * 32_768 + 1;

thread_local! {
    /// Each thread's read buffer, kept between inputs: a fresh 64 KiB buffer per file cost
    /// glibc a consolidation of its free lists each time (callgrind over 1,300 fixture files:
    /// 1.7 % of the CLI's instructions). The text is copied out at its own size.
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(Vec::with_capacity(FIRST_READ));
}

/// Reads `reader` up to `limit`: never more than one byte past it, so a huge input costs no
/// memory.
fn read_limited(reader: &mut dyn Read, limit: Limit) -> Result<Input, String> {
    READ_BUFFER.with_borrow_mut(|bytes| {
        bytes.clear();
        let read = read_into(reader, limit, bytes);
        // A grant listing may have grown it to megabytes: that is not kept.
        bytes.shrink_to(FIRST_READ);
        read
    })
}

/// [`read_limited`]'s reading, into `bytes` (empty).
fn read_into(reader: &mut dyn Read, limit: Limit, bytes: &mut Vec<u8>) -> Result<Input, String> {
    let cap = match limit {
        Limit::Policy { grants: true } => MAX_LISTING_BYTES,
        Limit::Policy { grants: false } => MAX_POLICY_BYTES,
        Limit::Event => crate::app::MAX_INPUT_BYTES as u64,
    };
    let read_err = |e: std::io::Error| format!("cannot read: {e}");
    reader.take(cap + 1).read_to_end(bytes).map_err(read_err)?;
    // A grant listing says so in its first bytes (`{"Grants": [`): it may be longer.
    let head = bytes.get(..256).unwrap_or(bytes);
    if bytes.len() as u64 > cap
        && matches!(limit, Limit::Policy { grants: false })
        && String::from_utf8_lossy(head).contains("\"Grants\"")
    {
        reader
            .take(MAX_LISTING_BYTES - cap)
            .read_to_end(bytes)
            .map_err(read_err)?;
        if bytes.len() as u64 <= MAX_LISTING_BYTES {
            return text(bytes.as_slice().to_vec()).map(Input::Text);
        }
    }
    if bytes.len() as u64 > cap {
        return Ok(Input::TooLarge(format!(
            "more than {} bytes",
            bytes.len() - 1
        )));
    }
    text(bytes.as_slice().to_vec()).map(Input::Text)
}

fn text(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (byte {} is invalid); a key policy is JSON text",
            e.utf8_error().valid_up_to()
        )
    })
}
