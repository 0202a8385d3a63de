//! Juju unit names, `<application>/<number>`, split in one place.

use std::fmt;

/// A unit's name, split.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitName {
    app: String,
    number: u32,
}

impl UnitName {
    /// `zinc/2` → application `zinc`, number 2; `None` for anything else (no `/`, an empty
    /// application, a number that is not one). The application part is not checked against
    /// Juju's name grammar here: callers that must refuse bad names do.
    pub fn parse(text: &str) -> Option<Self> {
        let (app, number) = text.rsplit_once('/')?;
        if app.is_empty() || number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(UnitName {
            app: app.to_string(),
            number: number.parse().ok()?,
        })
    }

    pub fn app(&self) -> &str {
        &self.app
    }

    pub fn number(&self) -> u32 {
        self.number
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.number)
    }
}

/// The application of a unit name (`zinc/2` → `zinc`), when it is one.
pub fn application_of(unit: &str) -> Option<String> {
    UnitName::parse(unit).map(|u| u.app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_split_once_and_print_back() {
        let u = UnitName::parse("prometheus-k8s/12").unwrap();
        assert_eq!((u.app(), u.number()), ("prometheus-k8s", 12));
        assert_eq!(u.to_string(), "prometheus-k8s/12");
        for bad in [
            "zinc",
            "/1",
            "zinc/",
            "zinc/x",
            "zinc/-1",
            "zinc/99999999999",
        ] {
            assert_eq!(UnitName::parse(bad), None, "{bad}");
        }
        assert_eq!(application_of("a/b/3").as_deref(), Some("a/b"));
    }
}
