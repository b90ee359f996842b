//! The guardrail's decision for KMS grants, the other door to a key: read the key's grants
//! with `ListGrants` (the one a `CreateGrant` event names, or all of them in a sweep), judge
//! each with the grant rules, and revoke those whose findings say `revert` — in enforce mode,
//! never for an exempt key or the guardrail's own change, within the key's revert budget —
//! then read back until the grant is gone, and alert.
//!
//! A grant the rules do not reject is never revoked: `RevokeGrant` is only reached with a
//! finding whose action is `revert`, and a finding that hangs on unconfirmed organization
//! membership is held to an alert by the engine.

use super::ports::{ErrorClass, KeyPolicies, PortError, Ports};
use super::{Action, Guardrail, HandlerError, Mode, Outcome, Sent, Status, alert, outbox_id};
use crate::event::KeyEvent;
use engine::grants::KeyContext;
use engine::report::{Finding, Report};
use engine::rules::RuleSet;
use engine::{KeyGrant, evaluate_grant};
use serde::Serialize;

/// One grant judged, and what was done about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrantVerdict {
    /// The grant as `ListGrants` reported it.
    pub grant: KeyGrant,
    /// Its violations.
    pub findings: Vec<Finding>,
    /// What was done.
    pub action: Action,
    /// One line on why.
    pub message: String,
    /// Whether the revoked grant was read back as gone.
    pub verified: Option<bool>,
    /// Whether an alert was published.
    pub alerted: bool,
}

impl GrantVerdict {
    fn new(grant: KeyGrant, report: Report) -> Self {
        GrantVerdict {
            grant,
            findings: report.findings,
            action: Action::None,
            message: String::new(),
            verified: None,
            alerted: false,
        }
    }

    /// Whether its revocation failed (counted as a failure).
    pub fn failed(&self) -> bool {
        self.action == Action::RevertFailed
    }
}

impl<P: Ports> Guardrail<P> {
    /// The key's grants (only `grant_id` when given), every page.
    pub(super) async fn read_grants(
        &self,
        e: &KeyEvent,
        grant_id: Option<&str>,
    ) -> Result<Vec<KeyGrant>, PortError> {
        let mut grants = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .ports
                .keys()
                .list_grants(&e.region, &e.key_arn, grant_id, marker.as_deref())
                .await?;
            grants.extend(page.grants);
            match page.next {
                Some(next) => marker = Some(next),
                None => return Ok(grants),
            }
        }
    }

    /// A `CreateGrant` event: judge the grant it names as `ListGrants` has it now (every
    /// grant of the key when the event names none).
    pub(super) async fn handle_grant_event(
        &self,
        e: &KeyEvent,
        rules: &RuleSet,
        ctx: &KeyContext,
        mut out: Outcome,
        now: u64,
    ) -> Result<Outcome, HandlerError> {
        let grants = match self.read_grants(e, e.grant_id.as_deref()).await {
            Ok(grants) => grants,
            Err(err) => return self.could_not_check(e, out, "ListGrants", err, now).await,
        };
        if grants.is_empty() {
            out.status = Status::Compliant;
            out.message = format!(
                "grant {} is no longer on the key (retired or revoked)",
                e.grant_id.as_deref().unwrap_or("(unnamed)")
            );
            return Ok(out);
        }
        self.judge_grants(e, rules, ctx, grants, now, &mut out)
            .await?;
        out.status = if out.grants.iter().any(|v| !v.findings.is_empty()) {
            Status::Violating
        } else {
            Status::Compliant
        };
        match out.grants.iter().find(|v| !v.findings.is_empty()) {
            Some(v) => {
                out.action = v.action;
                out.message = v.message.clone();
                out.verified = v.verified;
                out.alerted = v.alerted;
                out.findings = out.grants.iter().flat_map(|v| v.findings.clone()).collect();
            }
            None => out.message = "the grant complies".to_owned(),
        }
        Ok(out)
    }

    /// A swept key's grants, after its policy: every grant judged, violations acted on. A
    /// listing that fails for good is recorded on the outcome (a failure the summary
    /// counts) rather than alerted key by key.
    pub(super) async fn sweep_grants(
        &self,
        e: &KeyEvent,
        rules: &RuleSet,
        ctx: &KeyContext,
        now: u64,
        out: &mut Outcome,
    ) -> Result<(), HandlerError> {
        match self.read_grants(e, None).await {
            Ok(grants) => self.judge_grants(e, rules, ctx, grants, now, out).await,
            Err(err) if err.class.is_transient() => Err(HandlerError::Transient {
                step: "ListGrants",
                error: err,
            }),
            Err(err) if err.class == ErrorClass::NotFound => Ok(()),
            Err(err) => {
                out.grants_unchecked = Some(format!(
                    "ListGrants failed, the key's grants were not checked: {err}"
                ));
                Ok(())
            }
        }
    }

    /// Judges each grant; a violating one is acted on and alerted. Every verdict goes on
    /// `out.grants`.
    async fn judge_grants(
        &self,
        e: &KeyEvent,
        rules: &RuleSet,
        ctx: &KeyContext,
        grants: Vec<KeyGrant>,
        now: u64,
        out: &mut Outcome,
    ) -> Result<(), HandlerError> {
        for grant in grants {
            let report = evaluate_grant(&grant, rules, ctx);
            let mut verdict = GrantVerdict::new(grant, report);
            if !verdict.findings.is_empty() {
                self.act_on_grant(e, rules, now, &mut verdict).await?;
                let message = alert::grant(e, &verdict);
                let id = outbox_id(e, Some(&verdict.grant.grant_id));
                let written = (verdict.action == Action::Reverted).then_some((id.as_str(), now));
                match self.deliver(&message, written).await? {
                    Sent::Published => verdict.alerted = true,
                    Sent::Deferred(error) => {
                        out.alerts_deferred += 1;
                        verdict.message.push_str(&format!(
                            "; the alert could not be published ({error}) and waits in the outbox"
                        ));
                    }
                }
            }
            out.grants.push(verdict);
        }
        Ok(())
    }

    /// Decides and, when the rules say revert and nothing holds it, revokes the grant.
    async fn act_on_grant(
        &self,
        e: &KeyEvent,
        rules: &RuleSet,
        now: u64,
        v: &mut GrantVerdict,
    ) -> Result<(), HandlerError> {
        let id = v.grant.grant_id.clone();
        v.action = Action::Alerted;
        if let Some(reason) = self.hold(e, rules, &v.findings, None).await? {
            v.message = reason;
            return Ok(());
        }
        if self.settings.mode == Mode::Monitor {
            v.action = Action::WouldRevert;
            v.message = format!("monitor mode: would have revoked grant {id}");
            return Ok(());
        }
        if let Some(spent) = self.spent_budget(e, now).await? {
            v.message = spent;
            return Ok(());
        }
        match self
            .ports
            .keys()
            .revoke_grant(&e.region, &e.key_arn, &id)
            .await
        {
            Ok(()) => {}
            Err(err) if err.class.is_transient() => {
                return Err(HandlerError::Transient {
                    step: "RevokeGrant",
                    error: err,
                });
            }
            Err(err) if err.class == ErrorClass::NotFound => {
                v.message = format!("grant {id} was already gone (retired or revoked): {err}");
                return Ok(());
            }
            Err(err) => {
                v.action = Action::RevertFailed;
                v.message = format!("RevokeGrant was refused: {err}");
                return Ok(());
            }
        }
        v.action = Action::Reverted;
        v.verified = Some(self.revocation_visible(e, &id).await);
        v.message = format!(
            "revoked grant {id}{}",
            if v.verified == Some(true) {
                ""
            } else {
                "; still listed when read back (revocation is eventually consistent)"
            }
        );
        Ok(())
    }

    /// Reads the grant back until `ListGrants` no longer has it, with back-off.
    async fn revocation_visible(&self, e: &KeyEvent, grant_id: &str) -> bool {
        for attempt in 0..self.settings.reread.attempts {
            if attempt > 0 {
                tokio::time::sleep(self.settings.reread.delay(attempt - 1)).await;
            }
            if let Ok(left) = self.read_grants(e, Some(grant_id)).await
                && left.iter().all(|g| g.grant_id != grant_id)
            {
                return true;
            }
        }
        false
    }
}
