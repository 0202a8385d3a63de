//! 64-bit FNV-1a: tiny, stable across releases and platforms (unlike `DefaultHasher`), so a
//! fingerprint stored in one hook (the pod spec's, a job name's suffix, the rules marker)
//! means the same thing in the next, whatever the charm's build.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// FNV-1a as a [`std::hash::Hasher`], for fingerprints of typed values (`Hash`): what it
/// sees of strings and maps is fixed by the standard library (bytes, a 0xff after each
/// string, map lengths), so it is stable from one build of the charm to the next.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(OFFSET)
    }
}

impl std::hash::Hasher for Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = bytes
            .iter()
            .fold(self.0, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The FNV-1a of `text` as 16 lower-case hex digits.
pub fn hex(text: &str) -> String {
    format!("{:016x}", fnv1a64(text.as_bytes()))
}

/// A fingerprint of megabytes (the pod spec, the relations cache): FNV-1a's step over
/// eight bytes at a time, then splitmix64's finalizer so every input bit reaches every
/// output bit. Not FNV, but as stable across builds and platforms (little-endian words),
/// and about eight times faster: byte-at-a-time FNV of a spec holding ten thousand targets
/// cost a hook milliseconds.
pub fn bulk(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut h = OFFSET;
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(PRIME);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    }
    h ^= bytes.len() as u64;
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// [`bulk`] of `text` as 16 lower-case hex digits.
pub fn bulk_hex(text: &str) -> String {
    format!("{:016x}", bulk(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_is_stable_and_sees_every_byte() {
        // Fixed values: a fingerprint kept in one hook must mean the same in the next build.
        assert_eq!(bulk_hex(""), "f52a15e9a9b5e89b");
        let base = "0123456789abcdef-0123456789abcdef-xyz".to_string();
        let mut seen = std::collections::BTreeSet::from([bulk(base.as_bytes())]);
        for i in 0..base.len() {
            let mut b = base.clone().into_bytes();
            b[i] ^= 1;
            assert!(seen.insert(bulk(&b)), "byte {i}");
        }
        assert!(seen.insert(bulk(&base.as_bytes()[1..])));
        assert_eq!(bulk_hex("abcdefgh12"), "a45a6ec17bf8f616");
    }

    #[test]
    fn is_fnv1a() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
        assert_eq!(hex(""), "cbf29ce484222325");
        assert_eq!(hex("a"), "af63dc4c8601ec8c");
    }
}
