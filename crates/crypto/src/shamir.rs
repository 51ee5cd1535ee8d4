//! Shamir secret sharing over GF(256), through the audited `vsss-rs` crate: a secret is split
//! into `n` shares of which any `t` recover it and `t - 1` reveal nothing about it.
//!
//! A share is one identifier byte followed by one byte per secret byte. Shares carry no
//! integrity protection of their own; callers that need to detect a wrong share (the Shamir
//! seal) wrap them in a checked encoding and verify the recovered secret.

use std::convert::Infallible;

use vsss_rs::Gf256;

use crate::{Error, SecretBytes};

/// The most shares a split may produce (identifiers are the non-zero bytes).
pub const MAX_SHARES: usize = 255;

/// The system CSPRNG in the shape `vsss-rs` asks for. Its trait cannot report a failure, and a
/// CSPRNG that fails must not be papered over: the process aborts, as BoringSSL does.
struct SystemRng;

impl rand_core::TryRng for SystemRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        if crate::fill_random(dst).is_err() {
            std::process::abort();
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for SystemRng {}

/// Splits `secret` into `shares` shares, any `threshold` of which recover it. Needs
/// `2 <= threshold <= shares <= 255` and a non-empty secret (else `InvalidInput`).
pub fn split(secret: &[u8], threshold: usize, shares: usize) -> Result<Vec<SecretBytes>, Error> {
    if secret.is_empty() || threshold < 2 || threshold > shares || shares > MAX_SHARES {
        return Err(Error::InvalidInput);
    }
    let parts =
        Gf256::split_bytes(threshold, shares, secret, SystemRng).map_err(|_| Error::Failed)?;
    Ok(parts.into_iter().map(SecretBytes::new).collect())
}

/// Recovers the secret from shares (identifier byte first). With fewer than the threshold, or
/// with a wrong share, the result is a wrong secret, not an error: verify it.
pub fn combine(shares: &[SecretBytes]) -> Result<SecretBytes, Error> {
    let first_len = shares.first().map(SecretBytes::len).unwrap_or_default();
    if shares.len() < 2 || first_len < 2 || shares.iter().any(|s| s.len() != first_len) {
        return Err(Error::InvalidInput);
    }
    let parts: Vec<Vec<u8>> = shares.iter().map(|s| s.expose_secret().to_vec()).collect();
    let result = Gf256::combine_bytes(&parts).map_err(|_| Error::InvalidInput);
    // The copies handed to vsss-rs are secret too.
    for mut p in parts {
        zeroize::Zeroize::zeroize(&mut p);
    }
    result.map(SecretBytes::new)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
        if k == 0 {
            return vec![vec![]];
        }
        if n < k {
            return vec![];
        }
        let mut with: Vec<Vec<usize>> = subsets(n - 1, k - 1)
            .into_iter()
            .map(|mut s| {
                s.push(n - 1);
                s
            })
            .collect();
        with.extend(subsets(n - 1, k));
        with
    }

    #[test]
    fn every_threshold_subset_recovers_and_smaller_ones_do_not() {
        let secret = crate::random_array::<32>().unwrap();
        for (t, n) in [(2, 2), (2, 3), (3, 5), (4, 6)] {
            let shares = split(&secret, t, n).unwrap();
            assert_eq!(shares.len(), n);
            for set in subsets(n, t) {
                let picked: Vec<SecretBytes> = set.iter().map(|&i| shares[i].duplicate()).collect();
                assert_eq!(
                    combine(&picked).unwrap().expose_secret(),
                    secret,
                    "{t} of {n}: {set:?}"
                );
            }
            for set in subsets(n, t - 1).into_iter().filter(|s| s.len() >= 2) {
                let picked: Vec<SecretBytes> = set.iter().map(|&i| shares[i].duplicate()).collect();
                assert_ne!(
                    combine(&picked).unwrap().expose_secret(),
                    secret,
                    "{t} of {n}: {set:?}"
                );
            }
        }
    }

    #[test]
    fn a_changed_share_changes_the_result() {
        let secret = [7u8; 32];
        let shares = split(&secret, 2, 3).unwrap();
        let mut bad = shares[1].expose_secret().to_vec();
        bad[5] ^= 1;
        let got = combine(&[shares[0].duplicate(), SecretBytes::new(bad)]).unwrap();
        assert_ne!(got.expose_secret(), secret);
    }

    #[test]
    fn parameters_are_checked() {
        assert!(split(&[1], 1, 3).is_err());
        assert!(split(&[1], 4, 3).is_err());
        assert!(split(&[1], 2, 256).is_err());
        assert!(split(&[], 2, 3).is_err());
        assert!(combine(&[]).is_err());
    }
}
