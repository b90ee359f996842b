//! Any text as a rules document: it is accepted or refused with an error, never a panic;
//! an accepted one evaluates a policy without panicking.

#![no_main]

use engine::{KeyContext, RuleSet};
use libfuzzer_sys::fuzz_target;

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"Use","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
  "Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}]}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rules) = RuleSet::from_document(text) {
        let ctx = KeyContext::for_account(rules.account.as_deref());
        let _ = engine::check(POLICY, &rules, &ctx);
    }
});
