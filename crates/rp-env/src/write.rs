//! Edits of a config file that keep everything else in it (comments, order, layout).

/// A profile to define next to the default: name, the profile it extends, a description,
/// and its variables.
#[derive(Debug, Clone)]
pub struct Define<'a> {
    /// The new profile's name.
    pub name: &'a str,
    /// The profile it extends.
    pub extends: &'a str,
    /// Its description.
    pub description: &'a str,
    /// Variables it sets.
    pub vars: &'a [(String, String)],
}

/// `text` (a config file's content, possibly empty) with `profile = "NAME"` as the
/// layer's default profile; with `define`, that profile is (re)defined too. Everything
/// else in the file is kept as it was. An error names what does not parse.
pub fn with_default_profile(
    text: &str,
    profile: &str,
    define: Option<&Define<'_>>,
) -> Result<String, String> {
    use toml_edit::{value, DocumentMut, Item, Table};
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    if !crate::valid_profile_name(profile) {
        return Err(format!("{profile:?} is not a profile name"));
    }
    doc["profile"] = value(profile);
    if let Some(d) = define {
        for (k, _) in d.vars {
            if !crate::valid_name(k) {
                return Err(format!("{k:?} is not a variable name"));
            }
        }
        let profiles = doc
            .entry("profiles")
            .or_insert_with(|| {
                let mut t = Table::new();
                t.set_implicit(true);
                Item::Table(t)
            })
            .as_table_mut()
            .ok_or("`profiles` is not a table")?;
        let mut t = Table::new();
        t["extends"] = value(d.extends);
        t["description"] = value(d.description);
        let mut vars = Table::new();
        for (k, v) in d.vars {
            vars[k.as_str()] = value(v.as_str());
        }
        t["vars"] = Item::Table(vars);
        profiles[d.name] = Item::Table(t);
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_the_default_and_keeps_the_rest() {
        let old = "# my settings\nprofile = \"safe\"  # chosen by hand\n\n[profiles.mine]\nextends = \"native\"\n";
        let new = with_default_profile(old, "native", None).unwrap();
        assert!(
            new.starts_with("# my settings\nprofile = \"native\""),
            "{new}"
        );
        assert!(
            new.contains("[profiles.mine]\nextends = \"native\"\n"),
            "{new}"
        );
        let empty = with_default_profile("", "debug", None).unwrap();
        assert_eq!(empty, "profile = \"debug\"\n");
    }

    #[test]
    fn defines_a_profile() {
        let vars = [("MIOPEN_FIND_MODE".to_string(), "FAST".to_string())];
        let d = Define {
            name: "tuned",
            extends: "safe",
            description: "by tune",
            vars: &vars,
        };
        let new =
            with_default_profile("[profiles.mine]\nextends = \"native\"\n", "tuned", Some(&d))
                .unwrap();
        let v: toml::Value = toml::from_str(&new).unwrap();
        assert_eq!(v["profile"].as_str(), Some("tuned"));
        assert_eq!(v["profiles"]["tuned"]["extends"].as_str(), Some("safe"));
        assert_eq!(
            v["profiles"]["tuned"]["vars"]["MIOPEN_FIND_MODE"].as_str(),
            Some("FAST")
        );
        assert_eq!(v["profiles"]["mine"]["extends"].as_str(), Some("native"));
        assert!(with_default_profile("profile = [", "x", None).is_err());
        assert!(with_default_profile("profiles = 3\n", "tuned", Some(&d)).is_err());
    }
}
