//! PostgreSQL's hash functions for hash partitioning: Bob Jenkins' lookup3 as PostgreSQL's
//! `hashfn.c` has it (`hash_bytes_extended`, `hash_bytes_uint32_extended`), the extended
//! hash of each type's default hash operator class, and `hash_combine64`. A row lands in
//! the partition PostgreSQL would put it in, so a dump of one system's partitions loads
//! into the other's.

/// `HASH_PARTITION_SEED`: the seed PostgreSQL hashes partition keys with.
pub const PARTITION_SEED: u64 = 0x7A5B_2236_7996_DCFD;

fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

fn finish(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

/// The starting state: `len` folded in, then the seed.
fn start(len: u32, seed: u64) -> (u32, u32, u32) {
    let init = 0x9e37_79b9_u32.wrapping_add(len).wrapping_add(3_923_095);
    let (mut a, mut b, mut c) = (init, init, init);
    if seed != 0 {
        a = a.wrapping_add((seed >> 32) as u32);
        b = b.wrapping_add(seed as u32);
        mix(&mut a, &mut b, &mut c);
    }
    (a, b, c)
}

/// `hash_bytes_uint32_extended`: the hash of one 32-bit value.
pub fn hash_u32(k: u32, seed: u64) -> u64 {
    let (mut a, mut b, mut c) = start(4, seed);
    a = a.wrapping_add(k);
    finish(&mut a, &mut b, &mut c);
    (u64::from(b) << 32) | u64::from(c)
}

/// `hash_bytes_extended`: the hash of a byte string (read as on a little-endian machine,
/// as PostgreSQL does there).
pub fn hash_bytes(key: &[u8], seed: u64) -> u64 {
    let (mut a, mut b, mut c) = start(key.len() as u32, seed);
    let word = |k: &[u8]| u32::from_le_bytes([k[0], k[1], k[2], k[3]]);
    let mut k = key;
    while k.len() >= 12 {
        a = a.wrapping_add(word(&k[0..4]));
        b = b.wrapping_add(word(&k[4..8]));
        c = c.wrapping_add(word(&k[8..12]));
        mix(&mut a, &mut b, &mut c);
        k = &k[12..];
    }
    // The last 11 bytes: 0-3 into a, 4-7 into b, 8-10 into c above its lowest byte (left
    // for the length).
    for (i, &byte) in k.iter().enumerate() {
        let v = u32::from(byte);
        match i {
            0..=3 => a = a.wrapping_add(v << (8 * i)),
            4..=7 => b = b.wrapping_add(v << (8 * (i - 4))),
            _ => c = c.wrapping_add(v << (8 * (i - 7))),
        }
    }
    finish(&mut a, &mut b, &mut c);
    (u64::from(b) << 32) | u64::from(c)
}

/// `hashint4extended` (also `int2`, `date`: their values widened to 32 bits).
pub fn hash_int4(v: i32, seed: u64) -> u64 {
    hash_u32(v as u32, seed)
}

/// `hashint8extended`: an int8 that fits in 32 bits hashes as that int4 does.
pub fn hash_int8(v: i64, seed: u64) -> u64 {
    let lo = v as u32;
    let hi = (v >> 32) as u32;
    hash_u32(if v >= 0 { lo ^ hi } else { lo ^ !hi }, seed)
}

/// `hash_combine64`: folds one column's hash into the row's.
pub fn combine(a: u64, b: u64) -> u64 {
    a ^ b
        .wrapping_add(0x49a0_f4dd_15e5_a8e3)
        .wrapping_add(a << 54)
        .wrapping_add(a >> 7)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values PostgreSQL 15 gives (`SELECT hashint4extended(1, 0)` …).
    #[test]
    fn matches_postgresql() {
        let s = PARTITION_SEED;
        assert_eq!(hash_int4(1, 0) as i64, -3670598878359251130);
        assert_eq!(hash_int4(1, s) as i64, 5968994663651403477);
        assert_eq!(hash_int4(-7, s) as i64, -7298374200968567817);
        assert_eq!(hash_int4(3, s) as i64, -6526785837914879018);
        assert_eq!(hash_int8(5, s) as i64, -2840406021921404358);
        assert_eq!(hash_int8(-5_000_000_000, s) as i64, -4482100988868492312);
        assert_eq!(hash_bytes(b"", s) as i64, -5700645584453517373);
        assert_eq!(hash_bytes(b"abc", s) as i64, 3628778498291917250);
        assert_eq!(
            hash_bytes(b"hello world, this is long text", s) as i64,
            5228898044603378672
        );
        assert_eq!(hash_bytes(b"abc", 0) as i64, -6747756470228489321);
    }
}
