//! ARNs and account ids: the leaf every other module reads identities with. It depends on
//! nothing else in the engine.

/// An ARN split into its six components (the resource keeps any further colons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`, …
    pub partition: &'a str,
    /// `iam`, `sts`, `kms`, …
    pub service: &'a str,
    /// The region, empty for global services.
    pub region: &'a str,
    /// The account field, empty for some services.
    pub account: &'a str,
    /// `role/x`, `key/1234…`, `root`, …
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits `text` as `arn:partition:service:region:account:resource`.
    pub fn parse(text: &'a str) -> Option<Arn<'a>> {
        let rest = text.strip_prefix("arn:")?;
        // The first four colons end the first four fields: a plain byte loop, as the fields
        // before the resource are a few bytes each (the iterator chain it replaced cost a
        // quarter more instructions per ARN).
        let mut ends = [0usize; 4];
        let mut found = 0;
        for (i, &b) in rest.as_bytes().iter().enumerate() {
            if b == b':' {
                let Some(end) = ends.get_mut(found) else {
                    break;
                };
                *end = i;
                found += 1;
                if found == ends.len() {
                    break;
                }
            }
        }
        if found < ends.len() {
            return None;
        }
        let [a, b, c, d] = ends;
        let arn = Arn {
            partition: rest.get(..a)?,
            service: rest.get(a + 1..b)?,
            region: rest.get(b + 1..c)?,
            account: rest.get(c + 1..d)?,
            resource: rest.get(d + 1..)?,
        };
        (!arn.partition.is_empty() && !arn.service.is_empty()).then_some(arn)
    }
}

/// Whether `text` is a 12-digit AWS account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `text` looks like an IAM unique id (`AIDA…`, `AROA…`, …): what KMS shows in a
/// policy for a principal that was deleted.
pub fn is_unique_id(text: &str) -> bool {
    const PREFIXES: [&str; 8] = [
        "AIDA", "AROA", "AGPA", "AIPA", "ANPA", "ANVA", "ASIA", "AKIA",
    ];
    text.len() >= 16
        && PREFIXES.iter().any(|p| text.starts_with(p))
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}
