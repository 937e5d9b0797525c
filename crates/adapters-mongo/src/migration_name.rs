//! The naming convention of migration files, shared by `build.rs` (which embeds them) and
//! the runner (which accepts lists built in memory, e.g. by tests).

/// The version of a file named `NNNN_lower_snake_name.json` (four digits, above zero),
/// or `None` when the name does not follow the convention.
pub(crate) fn version_of(name: &str) -> Option<u32> {
    let stem = name.strip_suffix(".json")?;
    let (digits, rest) = stem.split_once('_')?;
    let valid_rest = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) || !valid_rest {
        return None;
    }
    digits.parse().ok().filter(|v| *v > 0)
}
