//! Resource definitions: what `weftctl get` needs to resolve a type name and print a resource.

use serde::{Deserialize, Serialize};

/// One extra table column: a header and a JSONPath-like pointer into the spec (`{.publicKey}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintColumn {
    pub name: String,
    #[serde(rename = "jsonPath")]
    pub json_path: String,
}

/// A resource type: its full name, display name, default namespace, aliases, print columns and
/// whether reading it needs the `os:admin` role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDefinition {
    /// `KubeSpanPeerStatuses.kubespan.weft.dev`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// `KubeSpanPeerStatus` (the TYPE column).
    pub display_type: String,
    pub default_namespace: String,
    pub aliases: Vec<String>,
    pub print_columns: Vec<PrintColumn>,
    pub sensitive: bool,
}

impl ResourceDefinition {
    /// A definition for `<plural>.<namespace>.weft.dev`, with aliases derived as COSI does.
    pub fn new(plural: &str, singular: &str, namespace: &str) -> ResourceDefinition {
        let resource_type = format!("{plural}.{namespace}.{}", super::TYPE_SUFFIX);
        ResourceDefinition {
            aliases: derive_aliases(&resource_type, singular),
            resource_type,
            display_type: singular.to_owned(),
            default_namespace: namespace.to_owned(),
            print_columns: Vec::new(),
            sensitive: false,
        }
    }

    /// Adds a print column.
    pub fn column(mut self, name: &str, json_path: &str) -> ResourceDefinition {
        self.print_columns.push(PrintColumn {
            name: name.to_owned(),
            json_path: json_path.to_owned(),
        });
        self
    }

    /// Marks the type sensitive (admin only).
    pub fn sensitive(mut self) -> ResourceDefinition {
        self.sensitive = true;
        self
    }

    /// The definition's id: the lowercase full type.
    pub fn id(&self) -> String {
        self.resource_type.to_lowercase()
    }

    /// Whether `name` names this type (case-insensitive: the id or any alias).
    pub fn matches(&self, name: &str) -> bool {
        let name = name.to_lowercase();
        self.id() == name || self.aliases.contains(&name)
    }
}

/// Aliases as COSI derives them: the singular name, the plural name and `plural.<namespace>…`
/// prefixes of the full type, and the abbreviation made of the plural's upper-case letters (plus
/// `s` unless it already ends in `s`), all lower-case.
pub fn derive_aliases(resource_type: &str, singular: &str) -> Vec<String> {
    let mut aliases = Vec::new();
    let mut push = |a: String| {
        if !a.is_empty() && !aliases.contains(&a) {
            aliases.push(a);
        }
    };
    push(singular.to_lowercase());
    let parts: Vec<&str> = resource_type.split('.').collect();
    let plural = parts.first().copied().unwrap_or_default();
    let abbrev: String = plural.chars().filter(char::is_ascii_uppercase).collect();
    let abbrev = abbrev.to_lowercase();
    if abbrev.len() > 1 {
        push(abbrev.clone());
        if !abbrev.ends_with('s') {
            push(format!("{abbrev}s"));
        }
    }
    // plural, plural.ns, plural.ns.weft (the full type is the id).
    for n in 1..parts.len() {
        push(parts[..n].join(".").to_lowercase());
    }
    aliases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_like_cosi() {
        let rd = ResourceDefinition::new("KubeSpanIdentities", "KubeSpanIdentity", "kubespan");
        assert_eq!(rd.resource_type, "KubeSpanIdentities.kubespan.weft.dev");
        assert_eq!(
            rd.aliases,
            [
                "kubespanidentity",
                "ksi",
                "ksis",
                "kubespanidentities",
                "kubespanidentities.kubespan",
                "kubespanidentities.kubespan.weft",
            ]
        );
        assert!(rd.matches("KSI"));
        assert!(rd.matches("kubespanidentities.kubespan.weft.dev"));
        assert!(!rd.matches("ks"));
    }

    #[test]
    fn ksps_is_shared_by_peer_specs_and_statuses() {
        let specs = ResourceDefinition::new("KubeSpanPeerSpecs", "KubeSpanPeerSpec", "kubespan");
        let statuses =
            ResourceDefinition::new("KubeSpanPeerStatuses", "KubeSpanPeerStatus", "kubespan");
        assert!(specs.matches("ksps") && statuses.matches("ksps"));
    }

    #[test]
    fn single_capital_gets_no_abbreviation() {
        let rd = ResourceDefinition::new("Affiliates", "Affiliate", "cluster");
        assert_eq!(
            rd.aliases,
            [
                "affiliate",
                "affiliates",
                "affiliates.cluster",
                "affiliates.cluster.weft"
            ]
        );
    }
}
