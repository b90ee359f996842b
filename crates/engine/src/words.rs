//! Bytes eight at a time: little-endian word loads and per-byte tests for the scanners that
//! run over every name and value (wildcards, action names, JSON strings), where a byte
//! loop cost several instructions a byte. A leaf: it depends on nothing else in the engine.

/// `0x01` in every byte.
pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;

/// `0x80` (the high bit) in every byte.
pub(crate) const HIGHS: u64 = ONES * 0x80;

/// The eight bytes of `bytes` from `at`, little-endian (0 when they are not all there).
pub(crate) fn word(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
        .map_or(0, u64::from_le_bytes)
}

/// The four bytes of `bytes` from `at`, little-endian (0 when they are not all there).
pub(crate) fn half(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|w| <[u8; 4]>::try_from(w).ok())
        .map_or(0, u32::from_le_bytes)
}

/// Whether one of the eight bytes of `word` is `byte`.
pub(crate) fn has_byte(word: u64, byte: u8) -> bool {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_are_little_endian_and_zero_past_the_end() {
        let bytes = b"abcdefghij";
        assert_eq!(word(bytes, 0), u64::from_le_bytes(*b"abcdefgh"));
        assert_eq!(word(bytes, 2), u64::from_le_bytes(*b"cdefghij"));
        assert_eq!(word(bytes, 3), 0);
        assert_eq!(half(bytes, 6), u32::from_le_bytes(*b"ghij"));
        assert_eq!(half(bytes, 7), 0);
    }

    #[test]
    fn a_byte_is_found_in_any_lane_and_only_where_it_is() {
        for lane in 0..8 {
            let mut bytes = *b"abcdefgh";
            bytes[lane] = b'*';
            assert!(has_byte(u64::from_le_bytes(bytes), b'*'), "lane {lane}");
            // Neighbours of the byte (and a borrow's look-alike after it) are not it.
            assert!(!has_byte(u64::from_le_bytes(bytes), b'+'), "lane {lane}");
            assert!(!has_byte(u64::from_le_bytes(bytes), b')'), "lane {lane}");
        }
        assert!(!has_byte(
            u64::from_le_bytes(*b"\xff\x80\x00\x01abcd"),
            b'*'
        ));
    }
}
