//! The KMS actions a key policy governs, and sets of them as a bitset.
//!
//! `Action`/`NotAction` entries are expanded against this catalogue once, case-insensitively
//! and with `*`/`?` globbing, so every later stage works on [`ActionSet`] values: union,
//! intersection and difference are single instructions, and `NotAction` is a complement.

use crate::glob;
use crate::words::{HIGHS, ONES, half, word};

/// Every action that a KMS key policy can grant on the key itself, in canonical spelling.
/// Account-level actions (`kms:CreateKey`, `kms:ListKeys`, custom key stores, …) are not here:
/// a key policy cannot grant them, so they expand to nothing.
pub const KEY_ACTIONS: [&str; 44] = [
    "CancelKeyDeletion",
    "CreateAlias",
    "CreateGrant",
    "Decrypt",
    "DeleteAlias",
    "DeleteImportedKeyMaterial",
    "DeriveSharedSecret",
    "DescribeKey",
    "DisableKey",
    "DisableKeyRotation",
    "EnableKey",
    "EnableKeyRotation",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "GetParametersForImport",
    "GetPublicKey",
    "ImportKeyMaterial",
    "ListGrants",
    "ListKeyPolicies",
    "ListKeyRotations",
    "ListResourceTags",
    "PutKeyPolicy",
    "ReEncryptFrom",
    "ReEncryptTo",
    "ReplicateKey",
    "RetireGrant",
    "RevokeGrant",
    "RotateKeyOnDemand",
    "ScheduleKeyDeletion",
    "Sign",
    "SynchronizeMultiRegionKey",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
    "Verify",
    "VerifyMac",
];

/// [`KEY_ACTIONS`] in lowercase, for case-insensitive lookup (a test pins the pairing).
const KEY_ACTIONS_LOWER: [&str; 44] = [
    "cancelkeydeletion",
    "createalias",
    "creategrant",
    "decrypt",
    "deletealias",
    "deleteimportedkeymaterial",
    "derivesharedsecret",
    "describekey",
    "disablekey",
    "disablekeyrotation",
    "enablekey",
    "enablekeyrotation",
    "encrypt",
    "generatedatakey",
    "generatedatakeypair",
    "generatedatakeypairwithoutplaintext",
    "generatedatakeywithoutplaintext",
    "generatemac",
    "getkeypolicy",
    "getkeyrotationstatus",
    "getparametersforimport",
    "getpublickey",
    "importkeymaterial",
    "listgrants",
    "listkeypolicies",
    "listkeyrotations",
    "listresourcetags",
    "putkeypolicy",
    "reencryptfrom",
    "reencryptto",
    "replicatekey",
    "retiregrant",
    "revokegrant",
    "rotatekeyondemand",
    "schedulekeydeletion",
    "sign",
    "synchronizemultiregionkey",
    "tagresource",
    "untagresource",
    "updatealias",
    "updatekeydescription",
    "updateprimaryregion",
    "verify",
    "verifymac",
];

/// Actions of the owning account's IAM scope that a key policy cannot grant; written in a
/// key policy they are valid but grant nothing on the key.
const ACCOUNT_ACTIONS: [&str; 11] = [
    "ConnectCustomKeyStore",
    "CreateCustomKeyStore",
    "CreateKey",
    "DeleteCustomKeyStore",
    "DescribeCustomKeyStores",
    "DisconnectCustomKeyStore",
    "GenerateRandom",
    "ListAliases",
    "ListKeys",
    "ListRetirableGrants",
    "UpdateCustomKeyStore",
];

/// A set of key actions, one bit per entry of [`KEY_ACTIONS`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ActionSet(u64);

const ALL_BITS: u64 = (1u64 << KEY_ACTIONS.len()) - 1;

#[allow(
    clippy::indexing_slicing,
    clippy::panic,
    reason = "evaluated at compile time: a name not in the catalogue fails the build"
)]
const fn bit(name: &str) -> u64 {
    let mut i = 0;
    while i < KEY_ACTIONS.len() {
        if const_eq(KEY_ACTIONS[i], name) {
            return 1 << i;
        }
        i += 1;
    }
    panic!("not a key action");
}

#[allow(
    clippy::indexing_slicing,
    reason = "const fn: `i` stays below both lengths, checked equal above"
)]
const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl ActionSet {
    /// No action.
    pub const EMPTY: ActionSet = ActionSet(0);
    /// Every key action (`kms:*`).
    pub const ALL: ActionSet = ActionSet(ALL_BITS);
    /// `kms:PutKeyPolicy` alone.
    pub const PUT_KEY_POLICY: ActionSet = ActionSet(bit("PutKeyPolicy"));
    /// `kms:CreateGrant` alone.
    pub const CREATE_GRANT: ActionSet = ActionSet(bit("CreateGrant"));
    /// Key-administration actions: those that change the key's policy, state, lifecycle,
    /// aliases, tags or key material. Reading (`Describe*`, `Get*`, `List*`) and grant
    /// handling for AWS resources (`CreateGrant`, `ListGrants`, `RevokeGrant`, which AWS's
    /// default policy gives key users) are not administration.
    pub const ADMIN: ActionSet = ActionSet(
        bit("PutKeyPolicy")
            | bit("ScheduleKeyDeletion")
            | bit("CancelKeyDeletion")
            | bit("DisableKey")
            | bit("EnableKey")
            | bit("DisableKeyRotation")
            | bit("EnableKeyRotation")
            | bit("RotateKeyOnDemand")
            | bit("UpdateKeyDescription")
            | bit("CreateAlias")
            | bit("UpdateAlias")
            | bit("DeleteAlias")
            | bit("TagResource")
            | bit("UntagResource")
            | bit("ImportKeyMaterial")
            | bit("DeleteImportedKeyMaterial")
            | bit("ReplicateKey")
            | bit("UpdatePrimaryRegion"),
    );

    /// Whether the set holds no action.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every action of `other` is in this set.
    pub fn contains(self, other: ActionSet) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the two sets share an action.
    pub fn intersects(self, other: ActionSet) -> bool {
        self.0 & other.0 != 0
    }

    /// Actions in both sets.
    pub fn intersection(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 & other.0)
    }

    /// Actions in either set.
    pub fn union(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 | other.0)
    }

    /// Actions of this set that are not in `other`.
    pub fn difference(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 & !other.0)
    }

    /// Every key action not in this set (what `NotAction` grants).
    pub fn complement(self) -> ActionSet {
        ActionSet(!self.0 & ALL_BITS)
    }

    /// The canonical names (`kms:Decrypt`) in catalogue order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        KEY_ACTIONS
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, name)| *name)
    }

    /// The set for display: `["kms:*"]` when it is every action, else each name.
    pub fn display_names(self) -> Vec<String> {
        if self == ActionSet::ALL {
            return vec!["kms:*".to_owned()];
        }
        self.names().map(qualified).collect()
    }
}

/// `kms:<name>`, built without the formatting machinery (a finding lists every action).
fn qualified(name: &str) -> String {
    let mut out = String::with_capacity(4 + name.len());
    out.push_str("kms:");
    out.push_str(name);
    out
}

impl std::fmt::Debug for ActionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// What one `Action` entry of a policy means for this key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionMatch {
    /// The key actions it names; possibly none (`kms:Nope*`).
    Key(ActionSet),
    /// A real KMS action that a key policy cannot grant (`kms:CreateKey`).
    AccountLevel,
    /// Another service's action (`s3:GetObject`): valid IAM, nothing on this key.
    OtherService,
    /// Not an action name KMS accepts (no `service:` prefix, unknown `kms:` name).
    Invalid,
}

/// How many leading bytes of a name one [`Head`] holds.
const HEAD_BYTES: usize = 16;

/// The first [`HEAD_BYTES`] bytes of a lowercase name, little-endian, zero-padded: a name
/// starts with a prefix of that many bytes or fewer when its head, masked to the prefix's
/// length, equals the prefix's head — one comparison instead of a byte loop.
type Head = u128;

/// Every catalogue name's head, and its length.
const HEADS: [(Head, usize); KEY_ACTIONS.len()] = heads();

#[allow(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: indices stay below the lengths they are checked against"
)]
const fn heads() -> [(Head, usize); KEY_ACTIONS.len()] {
    let mut out = [(0, 0); KEY_ACTIONS.len()];
    let mut i = 0;
    while i < KEY_ACTIONS_LOWER.len() {
        let name = KEY_ACTIONS_LOWER[i].as_bytes();
        let mut head: Head = 0;
        let mut j = 0;
        while j < name.len() && j < HEAD_BYTES {
            head |= (name[j] as Head) << (8 * j);
            j += 1;
        }
        out[i] = (head, name.len());
        i += 1;
    }
    out
}

/// The lowercase head of `bytes`, and the mask of the bytes it holds.
fn head(bytes: &[u8]) -> (Head, Head) {
    let held = bytes.len().min(HEAD_BYTES);
    let bytes = bytes.get(..held).unwrap_or_default();
    // Loaded straight into registers, eight (or four) bytes at a time, the last load
    // overlapping the first: copied into a zeroed stack buffer and loaded back as one
    // 16-byte value, the head stalled on the copy's stores (a quarter of this lookup).
    let (low, high) = match held {
        9.. => (word(bytes, 0), word(bytes, held - 8) >> (8 * (16 - held))),
        8 => (word(bytes, 0), 0),
        5..=7 => {
            let tail = u64::from(half(bytes, held - 4)) >> (8 * (8 - held));
            (u64::from(half(bytes, 0)) | tail << 32, 0)
        }
        4 => (u64::from(half(bytes, 0)), 0),
        _ => (
            bytes
                .iter()
                .rev()
                .fold(0, |acc, &b| acc << 8 | u64::from(b)),
            0,
        ),
    };
    let head = Head::from(lowercase(low)) | Head::from(lowercase(high)) << 64;
    (head, held_mask(held))
}

/// Every ASCII uppercase letter among the eight bytes of `word` made lowercase; other bytes
/// (non-ASCII ones included) unchanged.
fn lowercase(word: u64) -> u64 {
    let seven = word & (ONES * 0x7f);
    // A byte's high bit is set here when its low seven bits are ≥ `A`, and ≥ `Z` + 1.
    let from_a = seven + ONES * u64::from(0x80 - b'A');
    let past_z = seven + ONES * u64::from(0x80 - b'Z' - 1);
    let upper = (from_a ^ past_z) & !word & HIGHS;
    word | upper >> 2
}

/// Slots of [`PREFIXES`]: a power of two, over twice the distinct prefixes it holds (402),
/// so a lookup probes one slot or two.
const SLOTS: usize = 1024;

/// Every distinct prefix of up to [`HEAD_BYTES`] bytes of the catalogue names, by the hash
/// of its head and length ([`slot`]): the names that start with it (bits 0–43) and its
/// length (bits 56–63). 0 is an empty slot; a taken one is probed past, to the next.
const PREFIXES: [u64; SLOTS] = prefixes();

/// Where the prefix of `len` bytes whose head is `head` is looked for first in [`PREFIXES`].
const fn slot(head: Head, len: usize) -> usize {
    let folded = head as u64 ^ ((head >> 64) as u64).rotate_left(32) ^ len as u64;
    (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SLOTS.trailing_zeros())) as usize
}

/// The mask of a head's first `held` bytes (at most [`HEAD_BYTES`]).
const fn held_mask(held: usize) -> Head {
    if held >= HEAD_BYTES {
        Head::MAX
    } else {
        (1 << (8 * held)) - 1
    }
}

#[allow(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: indices stay below the lengths they are checked against"
)]
const fn prefixes() -> [u64; SLOTS] {
    let mut table = [0; SLOTS];
    let mut i = 0;
    while i < HEADS.len() {
        let (head, len) = HEADS[i];
        let mut n = 1;
        while n <= len && n <= HEAD_BYTES {
            let mask = held_mask(n);
            let mut names = 0u64;
            let mut j = 0;
            while j < HEADS.len() {
                if HEADS[j].0 & mask == head & mask {
                    names |= 1 << j;
                }
                j += 1;
            }
            // The same names and length are the same prefix (of the first of them).
            let entry = names | (n as u64) << 56;
            let mut s = slot(head & mask, n);
            while table[s] != 0 && table[s] != entry {
                s = (s + 1) % SLOTS;
            }
            table[s] = entry;
            n += 1;
        }
        i += 1;
    }
    table
}

/// The catalogue names (as bits) that start with `prefix` (any case) — or, with `exact`,
/// that are `prefix`.
fn matching(prefix: &[u8], exact: bool) -> u64 {
    let n = prefix.len();
    if n == 0 {
        return if exact { 0 } else { ALL_BITS };
    }
    // The names that start with the prefix's first (at most 16) bytes: one probe of the
    // table, a second now and then; an empty slot means none do.
    let held = n.min(HEAD_BYTES);
    let (want, mask) = head(prefix);
    let mut s = slot(want, held);
    let starts = loop {
        let entry = PREFIXES.get(s).copied().unwrap_or_default();
        if entry == 0 {
            return 0;
        }
        let names = entry & ALL_BITS;
        // The slot's prefix is the first of its names' first bytes.
        if (entry >> 56) as usize == held
            && HEADS
                .get(names.trailing_zeros() as usize)
                .is_some_and(|&(have, _)| have & mask == want)
        {
            break names;
        }
        s = (s + 1) % SLOTS;
    };
    // Those names are all as long as the head's bytes: an exact name is the one no longer.
    let found = if exact {
        starts & !longer_than(n + 1)
    } else {
        starts & longer_than(n)
    };
    if n <= HEAD_BYTES {
        return found;
    }
    // Past the head, the rest of a long prefix is compared by name.
    let mut set = 0;
    let mut left = found;
    while left != 0 {
        let i = left.trailing_zeros() as usize;
        left &= left - 1;
        if KEY_ACTIONS_LOWER
            .get(i)
            .and_then(|name| name.as_bytes().get(..n))
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
        {
            set |= 1 << i;
        }
    }
    set
}

/// Per length `n`, the catalogue names at least `n` bytes long (as bits); past the longest
/// name, none.
const LONGER: [u64; 40] = longer();

#[allow(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: indices stay below the lengths they are checked against"
)]
const fn longer() -> [u64; 40] {
    let mut out = [0; 40];
    let mut n = 0;
    while n < out.len() {
        let mut i = 0;
        while i < HEADS.len() {
            if HEADS[i].1 >= n {
                out[n] |= 1 << i;
            }
            i += 1;
        }
        n += 1;
    }
    out
}

/// The names at least `n` bytes long.
fn longer_than(n: usize) -> u64 {
    LONGER.get(n).copied().unwrap_or(0)
}

/// Expands one `Action`/`NotAction` entry against the catalogue.
pub fn expand(entry: &str) -> ActionMatch {
    if entry == "*" {
        return ActionMatch::Key(ActionSet::ALL);
    }
    // Nearly every entry is written `kms:…`: then that is its service, without a search
    // for the first colon. One comparison of its first four bytes, the letters' case bit
    // set (only `K`/`k`, `M`/`m`, `S`/`s` meet `kms` so; the colon is compared exactly).
    let kms = half(entry.as_bytes(), 0) | 0x0020_2020 == u32::from_le_bytes(*b"kms:");
    let name = match entry.get(4..).filter(|_| kms) {
        Some(name) => name,
        None => match entry.split_once(':') {
            Some((service, name))
                if service.eq_ignore_ascii_case("kms")
                    || glob::matches_ignore_case(service, "kms") =>
            {
                name
            }
            Some((service, name)) if !service.is_empty() && !name.is_empty() => {
                return ActionMatch::OtherService;
            }
            _ => return ActionMatch::Invalid,
        },
    };
    // Most wildcards are a prefix and one trailing star (`kms:Generate*`, `kms:*`): a range,
    // found with one scan of the name for wildcards.
    if let Some(prefix) = name.strip_suffix('*').filter(|p| !glob::has_wildcard(p)) {
        return ActionMatch::Key(ActionSet(matching(prefix.as_bytes(), false)));
    }
    if !glob::has_wildcard(name) {
        let found = matching(name.as_bytes(), true);
        if found != 0 {
            return ActionMatch::Key(ActionSet(found));
        }
        return if ACCOUNT_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(name)) {
            ActionMatch::AccountLevel
        } else {
            ActionMatch::Invalid
        };
    }
    let mut set = 0u64;
    for (i, action) in KEY_ACTIONS.iter().enumerate() {
        if glob::matches_ignore_case(name, action) {
            set |= 1 << i;
        }
    }
    ActionMatch::Key(ActionSet(set))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(entry: &str) -> ActionSet {
        match expand(entry) {
            ActionMatch::Key(s) => s,
            other => panic!("{entry} expanded to {other:?}"),
        }
    }

    #[test]
    fn catalogue_is_sorted_unique_and_fits_the_bitset() {
        let lower: Vec<String> = KEY_ACTIONS.iter().map(|a| a.to_ascii_lowercase()).collect();
        assert_eq!(lower, KEY_ACTIONS_LOWER.to_vec());
        let mut sorted = lower.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, lower);
        assert!(
            KEY_ACTIONS
                .iter()
                .all(|a| a.as_bytes()[0].is_ascii_uppercase())
        );
        assert!(KEY_ACTIONS.len() <= 64);
        assert!(ACCOUNT_ACTIONS.iter().all(|a| !KEY_ACTIONS.contains(a)));
    }

    #[test]
    fn heads_hold_the_lowercase_first_bytes_of_any_length() {
        // Letters and their neighbours in ASCII (`@`, `[`, `` ` ``, `{`), digits and a
        // two-byte character, long enough for every length a head takes and past it.
        let text = "A@Z[a`z{0Mq\u{e9}Kw9Ry_tGZ";
        for end in 0..=text.len() {
            let bytes = &text.as_bytes()[..end];
            let held = end.min(HEAD_BYTES);
            let want = bytes[..held]
                .iter()
                .enumerate()
                .fold(0, |acc: Head, (i, b)| {
                    acc | Head::from(b.to_ascii_lowercase()) << (8 * i)
                });
            let (got, mask) = head(bytes);
            assert_eq!(got, want, "{end} bytes");
            assert_eq!(mask.count_ones() as usize, 8 * held, "{end} bytes");
        }
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(set("KMS:decrypt"), set("kms:Decrypt"));
        assert_eq!(set("kms:decrypt").display_names(), vec!["kms:Decrypt"]);
    }

    #[test]
    fn wildcards_expand_against_the_catalogue() {
        assert_eq!(set("*"), ActionSet::ALL);
        assert_eq!(set("kms:*"), ActionSet::ALL);
        assert_eq!(set("k?s:*"), ActionSet::ALL);
        let re = set("kms:ReEncrypt*");
        assert_eq!(
            re.names().collect::<Vec<_>>(),
            ["ReEncryptFrom", "ReEncryptTo"]
        );
        assert_eq!(set("kms:Generate*").names().count(), 5);
        assert!(set("kms:Nothing*").is_empty());
        assert_eq!(
            set("kms:v*").names().collect::<Vec<_>>(),
            ["Verify", "VerifyMac"]
        );
        assert_eq!(
            set("kms:*Key").names().collect::<Vec<_>>(),
            [
                "DescribeKey",
                "DisableKey",
                "EnableKey",
                "GenerateDataKey",
                "GetPublicKey",
                "ReplicateKey",
                "SynchronizeMultiRegionKey"
            ]
        );
        assert_eq!(expand("kms:"), ActionMatch::Invalid);
    }

    #[test]
    fn prefix_ranges_agree_with_globbing() {
        // Every prefix of every name, in any case, expands as the general glob would.
        for action in KEY_ACTIONS {
            for end in 0..=action.len() {
                for prefix in [action[..end].to_owned(), action[..end].to_ascii_lowercase()] {
                    let fast = matching(prefix.as_bytes(), false);
                    let slow = KEY_ACTIONS
                        .iter()
                        .enumerate()
                        .filter(|(_, a)| glob::matches_ignore_case(&format!("{prefix}*"), a))
                        .fold(0u64, |acc, (i, _)| acc | 1 << i);
                    assert_eq!(fast, slow, "{prefix}*");
                }
            }
        }
    }

    #[test]
    fn the_prefix_table_holds_each_prefix_once_with_room_to_spare() {
        let mut distinct: Vec<&[u8]> = KEY_ACTIONS_LOWER
            .iter()
            .flat_map(|name| (1..=name.len().min(HEAD_BYTES)).map(|n| &name.as_bytes()[..n]))
            .collect();
        distinct.sort_unstable();
        distinct.dedup();
        let taken = PREFIXES.iter().filter(|&&entry| entry != 0).count();
        assert_eq!(taken, distinct.len());
        // Probes stay short only while the table is at most half full.
        assert!(2 * taken <= SLOTS, "{taken} prefixes in {SLOTS} slots");
    }

    #[test]
    fn near_misses_find_what_a_plain_search_finds() {
        // Every prefix of every name with its last byte replaced by a neighbour (in ASCII,
        // in the alphabet, the zero of a head's padding, a high byte): the lookup by heads
        // must find exactly what a byte-by-byte search over the catalogue finds.
        let plain = |prefix: &[u8], exact: bool| {
            KEY_ACTIONS_LOWER
                .iter()
                .enumerate()
                .filter(|(_, name)| {
                    let name = name.as_bytes();
                    if exact {
                        name.eq_ignore_ascii_case(prefix)
                    } else {
                        name.get(..prefix.len())
                            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
                    }
                })
                .fold(0u64, |acc, (i, _)| acc | 1 << i)
        };
        for action in KEY_ACTIONS {
            for end in 1..=action.len() {
                let last = action.as_bytes()[end - 1];
                let near = [0, b'@', b'[', b'`', b'{', 0x7f, 0xff];
                for b in near.into_iter().chain([last - 1, last + 1, last]) {
                    let mut prefix = action.as_bytes()[..end].to_vec();
                    prefix[end - 1] = b;
                    for exact in [false, true] {
                        assert_eq!(
                            matching(&prefix, exact),
                            plain(&prefix, exact),
                            "{prefix:?} exact: {exact}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn exact_names_match_in_any_case_and_look_alikes_do_not() {
        for (i, action) in KEY_ACTIONS.iter().enumerate() {
            for name in [
                action.to_string(),
                action.to_ascii_lowercase(),
                action.to_ascii_uppercase(),
            ] {
                assert_eq!(matching(name.as_bytes(), true), 1 << i, "{name}");
                // Longer, or padded with what a head's zero padding looks like: neither
                // the name nor a prefix of it. Shorter: a prefix only.
                for (other, is_prefix) in [
                    (format!("{name}x"), false),
                    (format!("{name}\0"), false),
                    (name[..name.len() - 1].to_owned(), true),
                ] {
                    assert_eq!(matching(other.as_bytes(), true) & (1 << i), 0, "{other:?}");
                    let prefix = matching(other.as_bytes(), false) & (1 << i) != 0;
                    assert_eq!(prefix, is_prefix, "{other:?}*");
                }
            }
        }
        // Names past a head's 16 bytes are told apart by the rest.
        assert_eq!(
            expand("kms:GenerateDataKeyPairWithoutPlaintext"),
            ActionMatch::Key(ActionSet(bit("GenerateDataKeyPairWithoutPlaintext")))
        );
        assert_eq!(
            expand("kms:GenerateDataKeyPairWithoutPlaintexT*"),
            ActionMatch::Key(ActionSet(bit("GenerateDataKeyPairWithoutPlaintext")))
        );
        assert_eq!(
            expand("kms:GenerateDataKeyPairWithoutCiphertext"),
            ActionMatch::Invalid
        );
    }

    #[test]
    fn non_key_actions_are_classified() {
        assert_eq!(expand("kms:CreateKey"), ActionMatch::AccountLevel);
        assert_eq!(expand("s3:GetObject"), ActionMatch::OtherService);
        assert_eq!(expand("kms:Frobnicate"), ActionMatch::Invalid);
        assert_eq!(expand("Decrypt"), ActionMatch::Invalid);
        // The service is KMS in any case, and only when it is spelt so up to the colon.
        assert_eq!(expand("kMs:Decrypt"), expand("kms:Decrypt"));
        for (other, what) in [
            ("kmt:Decrypt", ActionMatch::OtherService),
            ("km:Decrypt", ActionMatch::OtherService),
            ("kmsx:Decrypt", ActionMatch::OtherService),
            ("kms\u{1a}Decrypt", ActionMatch::Invalid),
            ("kms", ActionMatch::Invalid),
            ("kms:", ActionMatch::Invalid),
        ] {
            assert_eq!(expand(other), what, "{other:?}");
        }
    }

    #[test]
    fn complement_is_what_not_action_grants() {
        let not = set("kms:Decrypt").complement();
        assert!(!not.contains(set("kms:Decrypt")));
        assert!(not.contains(ActionSet::PUT_KEY_POLICY));
        assert_eq!(not.union(set("kms:Decrypt")), ActionSet::ALL);
    }

    #[test]
    fn admin_set_excludes_usage_and_reads() {
        assert!(ActionSet::ADMIN.contains(ActionSet::PUT_KEY_POLICY));
        assert!(!ActionSet::ADMIN.intersects(set("kms:Decrypt")));
        assert!(!ActionSet::ADMIN.intersects(set("kms:Describe*")));
        assert!(!ActionSet::ADMIN.intersects(ActionSet::CREATE_GRANT));
    }
}
