//! Human renderers. JSON is the report serialised as it is.

pub mod bench;
pub mod build;
pub mod deploy;
pub mod doctor;
pub mod env;
pub mod explain;
pub mod fix;
pub mod inspect;
pub mod probe;
pub mod report;
pub mod trace;

/// `1 library`, `2 libraries`: a count with its noun in the right number.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod count_tests {
    #[test]
    fn singular_and_plural() {
        assert_eq!(super::count(1, "probe", "probes"), "1 probe");
        assert_eq!(super::count(0, "note", "notes"), "0 notes");
        assert_eq!(super::count(2, "library", "libraries"), "2 libraries");
    }
}
