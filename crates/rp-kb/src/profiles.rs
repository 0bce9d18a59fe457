//! The built-in profiles (data/profiles.toml).

/// The built-in profiles file (parsed by rp-env with the same rules as user config).
pub const PROFILES_TOML: &str = include_str!("../data/profiles.toml");
