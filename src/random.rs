//! Secrets and names nobody can guess (keys, tokens, temporary names) from the operating
//! system's random source, and bytes as lowercase hex. One home for both.

use anyhow::{anyhow, Result};

/// `N` random bytes.
pub fn bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|err| anyhow!("no random numbers: {err}"))?;
    Ok(bytes)
}

/// `N` random bytes as hex (2N characters).
pub fn hex_string<const N: usize>() -> Result<String> {
    Ok(hex(&bytes::<N>()?))
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_hex_has_the_length_asked_for_and_differs() {
        let a = super::hex_string::<16>().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, super::hex_string::<16>().unwrap());
        assert_eq!(super::hex(&[0, 15, 255]), "000fff");
    }
}
