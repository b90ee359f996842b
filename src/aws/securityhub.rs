//! [`Findings`] over `aws-sdk-securityhub`: each [`KeyFinding`] as an ASFF finding
//! (`BatchImportFindings`), imported in the key's own account and region — through the
//! member role in organization mode, since Security Hub only accepts a finding from the
//! account it is about — at most 100 per call. Throttling is retried with back-off by the
//! SDK's retry configuration (the function's: adaptive, 5 attempts).
//!
//! A finding's `Id` is the key ARN and the rule, so a later evaluation updates it rather
//! than adding one. A resolved finding is imported again as `ARCHIVED` with compliance
//! `PASSED`: archiving is how a finding provider retires a finding (it leaves Security Hub's
//! active views). A provider may not change the workflow, the note or the user-defined
//! fields of a finding it already created — those are the team's (`BatchUpdateFindings`) —
//! so what changes between imports is in `ProductFields`.

use super::classify;
use super::clients::Clients;
use super::member::MemberAccess;
use crate::guardrail::findings::{FindingState, KeyFinding};
use crate::guardrail::ports::{ErrorClass, Findings, PortError};
use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::config::Region;
use aws_sdk_securityhub::primitives::{DateTime, DateTimeFormat};
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, Compliance, ComplianceStatus, FindingProviderFields,
    FindingProviderSeverity, Note, Partition, Recommendation, RecordState, Remediation, Resource,
    Severity, SeverityLabel, Workflow, WorkflowStatus,
};
use engine::arn::Arn;
use engine::rules::{Remedy, RuleId};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Security Hub's limit of findings per `BatchImportFindings` call.
pub const MAX_PER_CALL: usize = 100;

/// The ASFF version the findings are written in.
pub const SCHEMA_VERSION: &str = "2018-10-08";

/// The finding type (ASFF `namespace/category`).
pub const FINDING_TYPE: &str = "Software and Configuration Checks/AWS Security Best Practices";

/// The product and company name the findings carry.
pub const PRODUCT_NAME: &str = "kms-guardrail";

/// Where the rules are documented unless `GUARDRAIL_DOCS_URL` says otherwise: a finding's
/// `SourceUrl` and remediation link are `<this>docs/rules.md#<rule>`.
pub const DEFAULT_DOCS_URL: &str = "https://github.com/kms-guardrail/kms-guardrail/blob/main/";

/// Findings imported into Security Hub.
#[derive(Debug)]
pub struct SecurityHubFindings {
    clients: Clients<Client>,
    docs_url: String,
}

/// A Security Hub client for `region` from an account's configuration.
fn regional_client(config: &aws_config::SdkConfig, region: &str) -> Client {
    let mut builder = aws_sdk_securityhub::config::Builder::from(config);
    builder.set_region(Some(Region::new(region.to_owned())));
    Client::from_conf(builder.build())
}

impl SecurityHubFindings {
    /// Imports with clients built from `config`, one per (account, region): a key outside
    /// the hub account through `members` (organization mode). Rules are linked under
    /// `docs_url`.
    pub fn new(
        config: &aws_config::SdkConfig,
        members: Option<Arc<MemberAccess>>,
        docs_url: &str,
    ) -> Self {
        SecurityHubFindings {
            clients: Clients::per_location(config, members, regional_client),
            docs_url: docs_url.to_owned(),
        }
    }

    /// Uses `client` for every import (a test double's client).
    pub fn with_client(client: Client, docs_url: &str) -> Self {
        SecurityHubFindings {
            clients: Clients::Fixed(client),
            docs_url: docs_url.to_owned(),
        }
    }
}

impl Findings for SecurityHubFindings {
    async fn import(&self, findings: &[KeyFinding]) -> Result<(), PortError> {
        let mut by_location: BTreeMap<(&str, &str), Vec<AwsSecurityFinding>> = BTreeMap::new();
        for f in findings {
            by_location
                .entry((f.account.as_str(), f.region.as_str()))
                .or_default()
                .push(asff(f, &self.docs_url));
        }
        for ((account, region), list) in by_location {
            let client = self.clients.get(Some(account), region).await?;
            for batch in list.chunks(MAX_PER_CALL) {
                let out = client
                    .batch_import_findings()
                    .set_findings(Some(batch.to_vec()))
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
                if let Some(failed) = out.failed_findings().first() {
                    return Err(PortError::new(
                        ErrorClass::Rejected,
                        failed.error_code().unwrap_or("FailedFinding"),
                        format!(
                            "{} of {} findings refused; {}: {}",
                            out.failed_count().unwrap_or(1),
                            batch.len(),
                            failed.id().unwrap_or_default(),
                            failed.error_message().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`: the product
/// ARN every account has for its own findings.
pub fn product_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default")
}

/// Our severity as ASFF's label.
fn label(rule: RuleId) -> SeverityLabel {
    match rule.severity() {
        engine::rules::Severity::Critical => SeverityLabel::Critical,
        engine::rules::Severity::High => SeverityLabel::High,
        engine::rules::Severity::Medium => SeverityLabel::Medium,
        engine::rules::Severity::Low => SeverityLabel::Low,
    }
}

/// What to do about a violation of `rule`, from what remediation removes for it.
fn recommendation(rule: RuleId) -> &'static str {
    match rule.rule().remedy {
        Remedy::Statement => {
            "Remove the flagged statement from the key policy, or restore the key's last known-good policy."
        }
        Remedy::Principals => {
            "Remove the flagged principals from the statement, or restore the key's last known-good policy."
        }
        Remedy::AllowStatement => {
            "Remove the flagged Allow statement from the key policy, or restore the key's last known-good policy."
        }
        Remedy::AllowPrincipals => {
            "Remove the flagged principals from the Allow statement, or restore the key's last known-good policy."
        }
        Remedy::Keep => {
            "Restore a key policy in which the approved key administrators keep PutKeyPolicy, without bypassing the lock-out safety check."
        }
        Remedy::RevokeGrant => {
            "Revoke the flagged grant (RevokeGrant), and grant again with the constraints the rule asks for if it is needed."
        }
    }
}

/// RFC 3339, as ASFF's timestamps are.
fn timestamp(secs: u64) -> String {
    let at = DateTime::from_secs(i64::try_from(secs).unwrap_or(i64::MAX));
    at.fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// One finding in ASFF: every required attribute, the key as an `AwsKmsKey` resource, the
/// severity mapped from ours, the remediation and documentation links, and what the
/// guardrail did.
pub fn asff(f: &KeyFinding, docs_url: &str) -> AwsSecurityFinding {
    let partition = Arn::parse(&f.key_arn).map_or("aws", |a| a.partition);
    let doc = format!("{docs_url}{}", f.rule.doc_path());
    // A resolved finding names no workflow: archiving it resolves it.
    let (record, compliance, workflow, action) = match &f.state {
        FindingState::Active { action } => (
            RecordState::Active,
            ComplianceStatus::Failed,
            Some(Workflow::builder().status(WorkflowStatus::New).build()),
            action.as_str(),
        ),
        FindingState::Resolved => (
            RecordState::Archived,
            ComplianceStatus::Passed,
            None,
            "resolved",
        ),
    };
    let updated = timestamp(f.updated);
    let severity = f.rule.severity().as_str();
    AwsSecurityFinding::builder()
        .schema_version(SCHEMA_VERSION)
        .id(f.id())
        .product_arn(product_arn(partition, &f.region, &f.account))
        .product_name(PRODUCT_NAME)
        .company_name(PRODUCT_NAME)
        .generator_id(format!("kms-guardrail/{}", f.rule))
        .aws_account_id(&f.account)
        .region(&f.region)
        .types(FINDING_TYPE)
        .first_observed_at(timestamp(f.first_seen))
        .last_observed_at(&updated)
        .created_at(timestamp(f.first_seen))
        .updated_at(&updated)
        .severity(
            Severity::builder()
                .label(label(f.rule))
                .original(severity)
                .build(),
        )
        .finding_provider_fields(
            FindingProviderFields::builder()
                .severity(
                    FindingProviderSeverity::builder()
                        .label(label(f.rule))
                        .original(severity)
                        .build(),
                )
                .types(FINDING_TYPE)
                .build(),
        )
        .title(format!("KMS key {}: {}", f.rule, f.rule.description()))
        .description(&f.description)
        .remediation(
            Remediation::builder()
                .recommendation(
                    Recommendation::builder()
                        .text(recommendation(f.rule))
                        .url(&doc)
                        .build(),
                )
                .build(),
        )
        .source_url(&doc)
        .product_fields("kms-guardrail/rule", f.rule.as_str())
        .product_fields("kms-guardrail/action", action)
        .product_fields("kms-guardrail/event", &f.event_id)
        .user_defined_fields("rule", f.rule.as_str())
        .user_defined_fields("action", action)
        .note(
            Note::builder()
                .text(format!("kms-guardrail: {action} ({})", f.event_id))
                .updated_by(PRODUCT_NAME)
                .updated_at(&updated)
                .build(),
        )
        .resources(
            Resource::builder()
                .r#type("AwsKmsKey")
                .id(&f.key_arn)
                .partition(Partition::from(partition))
                .region(&f.region)
                .build(),
        )
        .compliance(Compliance::builder().status(compliance).build())
        .set_workflow(workflow)
        .record_state(record)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn finding(state: FindingState) -> KeyFinding {
        KeyFinding {
            key_arn: KEY.to_owned(),
            account: "111122223333".to_owned(),
            region: "us-gov-west-1".to_owned(),
            rule: RuleId::PublicAccess,
            state,
            description: "Statement 1 (Open): anyone may call kms:Decrypt".to_owned(),
            first_seen: 1_764_600_000,
            updated: 1_764_603_600,
            event_id: "event-1".to_owned(),
        }
    }

    fn field<'a>(map: Option<&'a std::collections::HashMap<String, String>>, k: &str) -> &'a str {
        map.and_then(|m| m.get(k)).map_or("", String::as_str)
    }

    #[test]
    fn an_active_finding_has_every_required_attribute_and_says_what_was_done() {
        let docs = "https://docs.example/guardrail/";
        let f = asff(
            &finding(FindingState::Active {
                action: "reverted".to_owned(),
            }),
            docs,
        );
        // The attributes BatchImportFindings requires.
        assert_eq!(f.schema_version(), Some("2018-10-08"));
        assert_eq!(
            f.id(),
            Some(format!("{KEY}/kms-guardrail/public-access").as_str())
        );
        assert_eq!(
            f.product_arn(),
            Some(
                "arn:aws-us-gov:securityhub:us-gov-west-1:111122223333:product/111122223333/default"
            )
        );
        assert_eq!(f.generator_id(), Some("kms-guardrail/public-access"));
        assert_eq!(f.aws_account_id(), Some("111122223333"));
        assert_eq!(f.types(), [FINDING_TYPE]);
        assert_eq!(f.created_at(), Some("2025-12-01T14:40:00Z"));
        assert_eq!(f.first_observed_at(), Some("2025-12-01T14:40:00Z"));
        assert_eq!(f.updated_at(), Some("2025-12-01T15:40:00Z"));
        assert_eq!(f.last_observed_at(), Some("2025-12-01T15:40:00Z"));
        let severity = f.severity().expect("severity");
        assert_eq!(
            (severity.label(), severity.original()),
            (Some(&SeverityLabel::Critical), Some("critical"))
        );
        let provider = f.finding_provider_fields().expect("provider fields");
        assert_eq!(
            provider.severity().and_then(|s| s.label()),
            Some(&SeverityLabel::Critical)
        );
        assert_eq!(provider.types(), [FINDING_TYPE]);
        assert_eq!(
            f.title(),
            Some(
                format!(
                    "KMS key public-access: {}",
                    RuleId::PublicAccess.description()
                )
                .as_str()
            )
        );
        assert_eq!(
            f.description(),
            Some("Statement 1 (Open): anyone may call kms:Decrypt")
        );
        // The key, as the resource.
        let [resource] = f.resources() else {
            panic!("one resource: {:?}", f.resources())
        };
        assert_eq!(resource.r#type(), Some("AwsKmsKey"));
        assert_eq!(resource.id(), Some(KEY));
        assert_eq!(resource.partition(), Some(&Partition::AwsUsGov));
        assert_eq!(resource.region(), Some("us-gov-west-1"));
        // What to do, where the rule is documented, what was done.
        let doc = "https://docs.example/guardrail/docs/rules.md#public-access";
        let recommendation = f
            .remediation()
            .and_then(|r| r.recommendation())
            .expect("recommendation");
        assert_eq!(recommendation.url(), Some(doc));
        assert!(
            recommendation
                .text()
                .is_some_and(|t| t.contains("Remove the flagged principals"))
        );
        assert_eq!(f.source_url(), Some(doc));
        assert_eq!(field(f.user_defined_fields(), "action"), "reverted");
        assert_eq!(field(f.user_defined_fields(), "rule"), "public-access");
        assert_eq!(
            field(f.product_fields(), "kms-guardrail/action"),
            "reverted"
        );
        assert_eq!(field(f.product_fields(), "kms-guardrail/event"), "event-1");
        assert_eq!(
            f.note().and_then(|n| n.text()),
            Some("kms-guardrail: reverted (event-1)")
        );
        assert_eq!(f.note().and_then(|n| n.updated_by()), Some(PRODUCT_NAME));
        // Its state.
        assert_eq!(f.record_state(), Some(&RecordState::Active));
        assert_eq!(
            f.compliance().and_then(|c| c.status()),
            Some(&ComplianceStatus::Failed)
        );
        assert_eq!(
            f.workflow().and_then(|w| w.status()),
            Some(&WorkflowStatus::New)
        );
    }

    #[test]
    fn a_resolved_finding_is_archived_and_passed_under_the_same_id() {
        let active = asff(
            &finding(FindingState::Active {
                action: "alerted".to_owned(),
            }),
            DEFAULT_DOCS_URL,
        );
        let resolved = asff(&finding(FindingState::Resolved), DEFAULT_DOCS_URL);
        assert_eq!(resolved.id(), active.id());
        assert_eq!(resolved.created_at(), active.created_at());
        assert_eq!(resolved.record_state(), Some(&RecordState::Archived));
        assert_eq!(
            resolved.compliance().and_then(|c| c.status()),
            Some(&ComplianceStatus::Passed)
        );
        // Archiving retires it; the workflow of a finding it created is not the provider's.
        assert_eq!(resolved.workflow(), None);
        assert_eq!(
            field(resolved.product_fields(), "kms-guardrail/action"),
            "resolved"
        );
    }

    #[test]
    fn severities_map_to_asff_labels_and_every_rule_has_a_recommendation() {
        for rule in RuleId::ALL {
            let expected = match rule.severity() {
                engine::rules::Severity::Critical => SeverityLabel::Critical,
                engine::rules::Severity::High => SeverityLabel::High,
                engine::rules::Severity::Medium => SeverityLabel::Medium,
                engine::rules::Severity::Low => SeverityLabel::Low,
            };
            let f = asff(
                &KeyFinding {
                    rule,
                    ..finding(FindingState::Resolved)
                },
                DEFAULT_DOCS_URL,
            );
            assert_eq!(
                f.severity().and_then(|s| s.label()),
                Some(&expected),
                "{rule}"
            );
            assert!(f.title().is_some_and(|t| t.len() <= 256), "{rule}");
            let text = recommendation(rule);
            assert!(!text.is_empty() && text.len() <= 512, "{rule}");
        }
    }
}
