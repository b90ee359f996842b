//! Serializes a [`Policy`] back to JSON in the member order AWS's console uses
//! (`Version`, `Id`, `Statement`; `Sid`, `Effect`, `Principal`, `Action`, `Resource`,
//! `Condition`), two-space indented, so a remediated policy reads like a hand-written one.

use super::{Condition, Names, Policy, PrincipalType, Principals, Statement};
use std::fmt::Write;

pub(super) fn policy(policy: &Policy<'_>) -> String {
    let mut out = String::with_capacity(256 + policy.statements.len() * 256);
    out.push_str("{\n");
    let mut fields: Vec<String> = Vec::new();
    if let Some(v) = &policy.version {
        fields.push(format!("  \"Version\": {}", quote(v)));
    }
    if let Some(id) = &policy.id {
        fields.push(format!("  \"Id\": {}", quote(id)));
    }
    let statements: Vec<String> = policy.statements.iter().map(statement).collect();
    fields.push(format!("  \"Statement\": [{}\n  ]", statements.join(",")));
    out.push_str(&fields.join(",\n"));
    out.push_str("\n}\n");
    out
}

fn statement(s: &Statement<'_>) -> String {
    let mut fields: Vec<String> = Vec::new();
    if let Some(sid) = &s.sid {
        fields.push(format!("\"Sid\": {}", quote(sid)));
    }
    match s.effect {
        super::Effect::Allow => fields.push("\"Effect\": \"Allow\"".to_owned()),
        super::Effect::Deny => fields.push("\"Effect\": \"Deny\"".to_owned()),
        super::Effect::Invalid => {}
    }
    if let Some(p) = &s.principal {
        fields.push(principals(p));
    }
    if let Some(a) = &s.action {
        fields.push(names(a, "Action"));
    }
    if let Some(r) = &s.resource {
        fields.push(names(r, "Resource"));
    }
    if !s.conditions.is_empty() {
        fields.push(conditions(&s.conditions));
    }
    format!("\n    {{\n      {}\n    }}", fields.join(",\n      "))
}

fn principals(p: &Principals<'_>) -> String {
    let name = if p.negated {
        "NotPrincipal"
    } else {
        "Principal"
    };
    if p.star {
        return format!("\"{name}\": \"*\"");
    }
    // One member per type, in first-seen order.
    let mut kinds: Vec<PrincipalType> = Vec::new();
    for e in &p.entries {
        if !kinds.contains(&e.kind) {
            kinds.push(e.kind);
        }
    }
    let members: Vec<String> = kinds
        .into_iter()
        .map(|kind| {
            let values: Vec<&str> = p
                .entries
                .iter()
                .filter(|e| e.kind == kind)
                .map(|e| e.value.as_ref())
                .collect();
            format!("\"{}\": {}", kind.as_str(), list(&values))
        })
        .collect();
    format!("\"{name}\": {{ {} }}", members.join(", "))
}

fn names(n: &Names<'_>, element: &str) -> String {
    let prefix = if n.negated { "Not" } else { "" };
    let values: Vec<&str> = n.values.iter().map(|v| v.as_ref()).collect();
    format!("\"{prefix}{element}\": {}", list(&values))
}

fn conditions(conditions: &[Condition<'_>]) -> String {
    // Group keys under their operator, keeping first-seen order of both.
    let mut operators: Vec<(&str, Vec<&Condition<'_>>)> = Vec::new();
    for c in conditions {
        match operators.iter_mut().find(|(op, _)| *op == c.operator) {
            Some((_, keys)) => keys.push(c),
            None => operators.push((c.operator.as_ref(), vec![c])),
        }
    }
    let mut out = String::from("\"Condition\": {");
    for (i, (operator, keys)) in operators.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(out, "{sep}\n        {}: {{", quote(operator));
        for (j, c) in keys.iter().enumerate() {
            let sep = if j == 0 { "" } else { "," };
            let values: Vec<&str> = c.values.iter().map(|v| v.as_ref()).collect();
            let _ = write!(out, "{sep}\n          {}: {}", quote(&c.key), list(&values));
        }
        out.push_str("\n        }");
    }
    out.push_str("\n      }");
    out
}

fn list(values: &[&str]) -> String {
    if let [one] = values {
        return quote(one);
    }
    let quoted: Vec<String> = values.iter().map(|v| quote(v)).collect();
    format!("[{}]", quoted.join(", "))
}

fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}
