//! Any text as a key policy: parse, evaluate against a rules document with every rule set
//! to revert, plan a remediation and check it safe — none of it may panic, and a plan the
//! planner returns must pass the safety check the guardrail runs before writing.

#![no_main]

use engine::{KeyContext, Policy, RuleAction, RuleId, RuleSet, remediate};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn rules() -> &'static RuleSet {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    RULES.get_or_init(|| {
        let mut rules = RuleSet::from_document(
            "version: 1\norganization: o-a1b2c3d4e5\ntrusted_accounts: [\"444455556666\"]\ntrusted_organizations: [\"o-a1b2c3d4e5\"]\nadmins: [\"arn:aws:iam::${account}:role/KeyAdmin\"]\n",
        )
        .unwrap_or_default();
        for rule in RuleId::ALL {
            rules.set_action(rule, RuleAction::Revert);
        }
        rules
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::parse(text) else {
        return;
    };
    let ctx = KeyContext::for_key_arn(KEY);
    let report = engine::evaluate(&policy, rules(), &ctx);
    if let Ok(plan) = remediate::plan(&policy, &report, rules(), &ctx, None) {
        assert!(
            remediate::check_safe(&plan.policy, rules(), &ctx).is_ok(),
            "the planner returned a policy its own safety check refuses"
        );
    }
});
