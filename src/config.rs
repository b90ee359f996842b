//! The Lambda's configuration from its environment (README, "Configuration"), validated once at
//! start-up: an invalid value fails loudly, naming the variable.

use crate::guardrail::Mode;
use engine::arn::{Arn, is_account_id};
use std::path::PathBuf;

/// Where the rules document comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesSource {
    /// No document: every rule on with action `alert`.
    Defaults,
    /// A file (packaged with the function, or local for `replay`).
    File(PathBuf),
    /// An SSM parameter (`ssm:<name>`).
    Ssm(String),
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `GUARDRAIL_MODE`: `enforce` or `monitor` (default `monitor`: writing must be asked for).
    pub mode: Mode,
    /// `GUARDRAIL_RULES`: a path, `ssm:<parameter>`, or unset.
    pub rules: RulesSource,
    /// `GUARDRAIL_ALERT_TOPIC_ARN`: unset means alerts go to the log only.
    pub topic_arn: Option<String>,
    /// `GUARDRAIL_BASELINE_TABLE`: unset means no last known-good and no revert budget.
    pub baseline_table: Option<String>,
    /// `GUARDRAIL_ROLE_ARN`: the guardrail's own role (loop guard).
    pub role_arn: Option<String>,
    /// `GUARDRAIL_MEMBER_ROLE`: the name of the role the guardrail assumes in every other
    /// account of the organization; unset is single-account mode.
    pub member_role: Option<String>,
    /// `GUARDRAIL_SWEEP_QUOTA_PERCENT`: the share of each KMS request quota the sweep may
    /// use, 1–50 (default 10).
    pub sweep_quota_percent: u32,
    /// `GUARDRAIL_SWEEP_CONCURRENCY`: the sweep's KMS calls in flight at most, 1–64
    /// (default 8).
    pub sweep_concurrency: usize,
    /// `GUARDRAIL_SWEEP_KEY_ALERTS`: the per-key could-not-check alerts one sweep (or one
    /// organization sweep unit) sends at most, 1–1000 (default 10); the rest are counted and
    /// listed in its summary.
    pub sweep_key_alerts: u32,
    /// The organization sweep on a queue (organization mode), when configured.
    pub fanout: Option<Fanout>,
    /// `GUARDRAIL_SECURITY_HUB`: `on` imports findings into Security Hub (default `off`).
    pub security_hub: bool,
    /// `GUARDRAIL_DOCS_URL`: where `docs/rules.md` is published, ending in `/` (findings
    /// link their rule there).
    pub docs_url: String,
    /// `GUARDRAIL_ALERT_FORMAT`: `json` (default) or `chat`.
    pub alert_format: AlertFormat,
}

/// How an alert's SNS message is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertFormat {
    /// The alert's JSON body (README, "Alerts").
    #[default]
    Json,
    /// The chat applications' custom notification format (Amazon Q Developer in chat
    /// applications: Slack, Microsoft Teams).
    Chat,
}

/// The organization sweep fanned out on SQS: the scheduled start coordinates, the queue's
/// workers sweep one account-region each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fanout {
    /// `GUARDRAIL_SWEEP_QUEUE_URL`: the queue of units.
    pub queue_url: String,
    /// `GUARDRAIL_ACCOUNTS`: the accounts to sweep (comma-separated); empty: every active
    /// account of the organization (AWS Organizations).
    pub accounts: Vec<String>,
    /// `GUARDRAIL_REGIONS`: the regions to sweep (comma-separated); empty: the function's.
    pub regions: Vec<String>,
    /// `GUARDRAIL_SWEEP_MAX_RECEIVES`: the queue's redrive `maxReceiveCount`, 1–100
    /// (default 3): a unit failing on its last delivery is recorded as failed.
    pub max_receives: u32,
}

/// An invalid configuration value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn invalid(variable: &'static str, reason: String) -> ConfigError {
    ConfigError { variable, reason }
}

impl Config {
    /// Reads the configuration through `var` (the process environment in production).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let mode = match get("GUARDRAIL_MODE").as_deref() {
            None | Some("monitor") => Mode::Monitor,
            Some("enforce") => Mode::Enforce,
            Some(other) => {
                return Err(invalid(
                    "GUARDRAIL_MODE",
                    format!("`{other}` is not `enforce` or `monitor`"),
                ));
            }
        };
        let rules = match get("GUARDRAIL_RULES") {
            None => RulesSource::Defaults,
            Some(v) => match v.strip_prefix("ssm:") {
                Some("") => {
                    return Err(invalid(
                        "GUARDRAIL_RULES",
                        "`ssm:` needs a parameter name".to_owned(),
                    ));
                }
                Some(name) => RulesSource::Ssm(name.to_owned()),
                None => RulesSource::File(PathBuf::from(v)),
            },
        };
        let topic_arn = get("GUARDRAIL_ALERT_TOPIC_ARN");
        if let Some(t) = &topic_arn
            && Arn::parse(t).is_none_or(|a| a.service != "sns")
        {
            return Err(invalid(
                "GUARDRAIL_ALERT_TOPIC_ARN",
                format!("`{t}` is not an SNS topic ARN"),
            ));
        }
        let role_arn = get("GUARDRAIL_ROLE_ARN");
        if let Some(r) = &role_arn
            && Arn::parse(r).is_none_or(|a| a.service != "iam" || !a.resource.starts_with("role/"))
        {
            return Err(invalid(
                "GUARDRAIL_ROLE_ARN",
                format!("`{r}` is not an IAM role ARN"),
            ));
        }
        let member_role = get("GUARDRAIL_MEMBER_ROLE");
        if let Some(name) = &member_role
            && !is_role_name(name)
        {
            return Err(invalid(
                "GUARDRAIL_MEMBER_ROLE",
                format!("`{name}` is not an IAM role name (1–64 of A–Z a–z 0–9 + = , . @ _ -)"),
            ));
        }
        let number = |variable: &'static str, default: u32, max: u32| match get(variable) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(invalid(
                    variable,
                    format!("`{v}` is not a whole number from 1 to {max}"),
                )),
            },
        };
        let list = |variable: &'static str, valid: fn(&str) -> bool, what: &str| {
            let items: Vec<String> = get(variable)
                .unwrap_or_default()
                .split(',')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect();
            match items.iter().find(|v| !valid(v)) {
                Some(bad) => Err(invalid(variable, format!("`{bad}` is not {what}"))),
                None => Ok(items),
            }
        };
        let fanout = match get("GUARDRAIL_SWEEP_QUEUE_URL") {
            None => None,
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                Some(Fanout {
                    queue_url: url,
                    accounts: list("GUARDRAIL_ACCOUNTS", is_account_id, "a 12-digit account id")?,
                    regions: list("GUARDRAIL_REGIONS", is_region, "a region name")?,
                    max_receives: number("GUARDRAIL_SWEEP_MAX_RECEIVES", 3, 100)?,
                })
            }
            Some(other) => {
                return Err(invalid(
                    "GUARDRAIL_SWEEP_QUEUE_URL",
                    format!("`{other}` is not a queue URL"),
                ));
            }
        };
        let security_hub = match get("GUARDRAIL_SECURITY_HUB").as_deref() {
            None | Some("off") => false,
            Some("on") => true,
            Some(other) => {
                return Err(invalid(
                    "GUARDRAIL_SECURITY_HUB",
                    format!("`{other}` is not `on` or `off`"),
                ));
            }
        };
        if security_hub && get("GUARDRAIL_BASELINE_TABLE").is_none() {
            return Err(invalid(
                "GUARDRAIL_SECURITY_HUB",
                "`on` needs GUARDRAIL_BASELINE_TABLE: which findings are open is kept there, \
                 so they can be resolved"
                    .to_owned(),
            ));
        }
        let alert_format = match get("GUARDRAIL_ALERT_FORMAT").as_deref() {
            None | Some("json") => AlertFormat::Json,
            Some("chat") => AlertFormat::Chat,
            Some(other) => {
                return Err(invalid(
                    "GUARDRAIL_ALERT_FORMAT",
                    format!("`{other}` is not `json` or `chat`"),
                ));
            }
        };
        let docs_url = match get("GUARDRAIL_DOCS_URL") {
            None => crate::aws::securityhub::DEFAULT_DOCS_URL.to_owned(),
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                if url.ends_with('/') {
                    url
                } else {
                    format!("{url}/")
                }
            }
            Some(other) => {
                return Err(invalid(
                    "GUARDRAIL_DOCS_URL",
                    format!("`{other}` is not an http(s) URL"),
                ));
            }
        };
        Ok(Config {
            security_hub,
            docs_url,
            alert_format,
            fanout,
            mode,
            rules,
            topic_arn,
            baseline_table: get("GUARDRAIL_BASELINE_TABLE"),
            role_arn,
            member_role,
            sweep_quota_percent: number("GUARDRAIL_SWEEP_QUOTA_PERCENT", 10, 50)?,
            sweep_concurrency: number("GUARDRAIL_SWEEP_CONCURRENCY", 8, 64)? as usize,
            sweep_key_alerts: number(
                "GUARDRAIL_SWEEP_KEY_ALERTS",
                crate::guardrail::DEFAULT_SWEEP_KEY_ALERTS,
                1000,
            )?,
        })
    }
}

/// Whether `name` looks like an AWS region (`us-east-1`, `eu-central-2`, `us-gov-west-1`).
pub fn is_region(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').count() >= 3
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `name` is a valid IAM role name (a name, not a path or an ARN).
fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_env(|k| env.get(k).cloned())
    }

    #[test]
    fn defaults_monitor_with_default_rules() {
        let c = from(&[]).expect("valid");
        assert_eq!((c.mode, c.rules), (Mode::Monitor, RulesSource::Defaults));
        assert_eq!(
            (c.topic_arn, c.baseline_table, c.role_arn),
            (None, None, None)
        );
        assert_eq!((c.sweep_quota_percent, c.sweep_concurrency), (10, 8));
        assert_eq!(c.sweep_key_alerts, 10);
        assert_eq!((c.security_hub, c.alert_format), (false, AlertFormat::Json));
        assert_eq!(c.docs_url, crate::aws::securityhub::DEFAULT_DOCS_URL);
    }

    #[test]
    fn everything_set() {
        let c = from(&[
            ("GUARDRAIL_MODE", "enforce"),
            ("GUARDRAIL_RULES", "ssm:/kms-guardrail/rules"),
            (
                "GUARDRAIL_ALERT_TOPIC_ARN",
                "arn:aws:sns:us-east-1:111122223333:alerts",
            ),
            ("GUARDRAIL_BASELINE_TABLE", "baselines"),
            (
                "GUARDRAIL_ROLE_ARN",
                "arn:aws:iam::111122223333:role/guardrail",
            ),
            ("GUARDRAIL_SWEEP_QUOTA_PERCENT", "5"),
            ("GUARDRAIL_SWEEP_CONCURRENCY", "16"),
            ("GUARDRAIL_MEMBER_ROLE", "KmsGuardrailMember"),
            (
                "GUARDRAIL_SWEEP_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/111122223333/sweep",
            ),
            ("GUARDRAIL_ACCOUNTS", "111122223333, 444455556666"),
            ("GUARDRAIL_REGIONS", "us-east-1,eu-west-1"),
            ("GUARDRAIL_SECURITY_HUB", "on"),
            ("GUARDRAIL_ALERT_FORMAT", "chat"),
            (
                "GUARDRAIL_DOCS_URL",
                "https://wiki.example.com/kms-guardrail",
            ),
        ])
        .expect("valid");
        assert_eq!((c.security_hub, c.alert_format), (true, AlertFormat::Chat));
        assert_eq!(c.docs_url, "https://wiki.example.com/kms-guardrail/");
        let fanout = c.fanout.as_ref().expect("the queue is configured");
        assert_eq!(fanout.accounts, ["111122223333", "444455556666"]);
        assert_eq!(fanout.regions, ["us-east-1", "eu-west-1"]);
        assert_eq!(fanout.max_receives, 3);
        assert_eq!(c.member_role.as_deref(), Some("KmsGuardrailMember"));
        assert_eq!(c.mode, Mode::Enforce);
        assert_eq!((c.sweep_quota_percent, c.sweep_concurrency), (5, 16));
        assert_eq!(c.rules, RulesSource::Ssm("/kms-guardrail/rules".to_owned()));
        assert_eq!(c.baseline_table.as_deref(), Some("baselines"));
        assert_eq!(
            from(&[("GUARDRAIL_RULES", "rules.yaml")])
                .expect("valid")
                .rules,
            RulesSource::File("rules.yaml".into())
        );
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (var, value) in [
            ("GUARDRAIL_MODE", "enforcing"),
            ("GUARDRAIL_RULES", "ssm:"),
            ("GUARDRAIL_ALERT_TOPIC_ARN", "alerts"),
            ("GUARDRAIL_ROLE_ARN", "arn:aws:iam::111122223333:user/alice"),
            ("GUARDRAIL_SWEEP_QUOTA_PERCENT", "0"),
            ("GUARDRAIL_SWEEP_QUOTA_PERCENT", "60"),
            ("GUARDRAIL_SWEEP_CONCURRENCY", "eight"),
            (
                "GUARDRAIL_MEMBER_ROLE",
                "arn:aws:iam::111122223333:role/KmsGuardrailMember",
            ),
            ("GUARDRAIL_MEMBER_ROLE", "ops/KmsGuardrailMember"),
            ("GUARDRAIL_SWEEP_QUEUE_URL", "sweep-queue"),
            ("GUARDRAIL_SECURITY_HUB", "yes"),
            ("GUARDRAIL_SECURITY_HUB", "on"),
            ("GUARDRAIL_ALERT_FORMAT", "slack"),
            ("GUARDRAIL_DOCS_URL", "docs/rules.md"),
        ] {
            let err = from(&[(var, value)]).expect_err("invalid");
            assert_eq!(err.variable, var);
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid configuration: {var}: ")),
                "{err}"
            );
        }
    }
}
