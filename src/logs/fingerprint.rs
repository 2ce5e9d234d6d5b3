//! Fingerprints: the same error with different numbers, ids, UUIDs, timestamps or hex is
//! one error. Pure.

/// The most of a message that is fingerprinted or kept as an example.
pub const MAX_TEXT: usize = 300;

/// Mask the variable parts of a message: UUIDs -> `<uuid>`, hex strings -> `<hex>`, numbers
/// (and the digits of timestamps, IPs, ids like `user42`) -> `<n>`.
pub fn fingerprint(text: &str) -> String {
    let text = truncate(text, MAX_TEXT);
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            word.push(c);
        } else {
            push_masked(&mut out, &word);
            word.clear();
            out.push(c);
        }
    }
    push_masked(&mut out, &word);
    out
}

fn is_uuid(word: &str) -> bool {
    let parts: Vec<&str> = word.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(len, part)| part.len() == *len && part.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_hex(word: &str) -> bool {
    if let Some(rest) = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        return !rest.is_empty() && rest.chars().all(|c| c.is_ascii_hexdigit());
    }
    word.len() >= 8
        && word.chars().all(|c| c.is_ascii_hexdigit())
        && word.chars().any(|c| c.is_ascii_digit())
}

fn push_masked(out: &mut String, word: &str) {
    if word.is_empty() {
        return;
    }
    if is_uuid(word) {
        out.push_str("<uuid>");
        return;
    }
    // A word made of dash-separated parts (dates, ids): mask each part.
    if word.contains('-') && !word.starts_with('-') {
        for (index, part) in word.split('-').enumerate() {
            if index > 0 {
                out.push('-');
            }
            push_masked_part(out, part);
        }
        return;
    }
    push_masked_part(out, word);
}

fn push_masked_part(out: &mut String, word: &str) {
    if word.is_empty() {
        return;
    }
    if is_hex(word) {
        out.push_str("<hex>");
        return;
    }
    let mut in_digits = false;
    for c in word.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push_str("<n>");
                in_digits = true;
            }
        } else {
            out.push(c);
            in_digits = false;
        }
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_parts_are_masked() {
        assert_eq!(fingerprint("Member 42 not found"), "Member <n> not found");
        assert_eq!(
            fingerprint("order 7f3c2a1e-9b4d-4c5e-8f6a-1b2c3d4e5f60 failed after 3000 ms"),
            "order <uuid> failed after <n> ms"
        );
        assert_eq!(
            fingerprint("object at 0x7ffd12ab, sha deadbeef01"),
            "object at <hex>, sha <hex>"
        );
        assert_eq!(
            fingerprint("at 2024-01-15 10:30:45 from 10.0.0.12:5432"),
            "at <n>-<n>-<n> <n>:<n>:<n> from <n>.<n>.<n>.<n>:<n>"
        );
        assert_eq!(
            fingerprint("user42 and user7 in HikariPool-1"),
            "user<n> and user<n> in HikariPool-<n>"
        );
    }

    #[test]
    fn the_same_error_with_other_values_has_one_fingerprint() {
        assert_eq!(
            fingerprint("Connection is not available, request timed out after 30004ms."),
            fingerprint("Connection is not available, request timed out after 30001ms.")
        );
        assert_ne!(
            fingerprint("Member not found"),
            fingerprint("Payment not found")
        );
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let long = "é".repeat(400);
        assert!(fingerprint(&long).len() <= MAX_TEXT);
        assert_eq!(truncate("héllo", 2), "h");
    }
}
