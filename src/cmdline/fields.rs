//! Comma-separated fields inside an option's value, and the messages about them.

use super::suggest::closest;

/// Warnings and errors collected while parsing one option.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
}

impl Report {
    pub fn warn(&mut self, msg: impl Into<String>) {
        self.warnings.push(msg.into());
    }
    pub fn error(&mut self, msg: impl Into<String>) {
        self.errors.push(msg.into());
    }
}

/// One field: `name=value`, or a bare `name` (a flag, or a positional value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    /// The text before the first `=` (or the whole field).
    pub name: String,
    /// The text after the first `=`, if there is one.
    pub value: Option<String>,
    /// The whole field as written (trimmed).
    pub raw: String,
    /// 1-based position among the non-empty fields.
    pub position: usize,
}

/// Splits `value` on commas, trimming spaces around each field. Empty fields
/// (stray commas) are dropped with one warning naming `option`.
pub(crate) fn split_fields(option: &str, value: &str, report: &mut Report) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut stray = false;
    for part in value.split(',') {
        let raw = part.trim_matches([' ', '\t', '\n', '\r']);
        if raw.is_empty() {
            stray = true;
            continue;
        }
        let (name, value) = match raw.split_once('=') {
            Some((n, v)) => (n.trim_end().to_string(), Some(v.trim_start().to_string())),
            None => (raw.to_string(), None),
        };
        fields.push(Field {
            name,
            value,
            raw: raw.to_string(),
            position: fields.len() + 1,
        });
    }
    if stray {
        report.warn(format!("{option}: empty field (stray comma) ignored"));
    }
    fields
}

/// Checks the fields of one option against the accepted names, and reports
/// unknown, duplicated, valueless or flag-with-value fields.
pub(crate) struct FieldChecker<'a> {
    /// How messages name the option, e.g. `b2c.iface=eth0`.
    pub option: &'a str,
    /// The accepted field names, for messages and suggestions.
    pub accepted: &'static [&'static str],
    /// When true, unknown fields are never quoted (they may be a piece of a
    /// secret that contained a comma).
    pub has_secret: bool,
    seen: Vec<String>,
}

impl<'a> FieldChecker<'a> {
    pub fn new(option: &'a str, accepted: &'static [&'static str], has_secret: bool) -> Self {
        FieldChecker {
            option,
            accepted,
            has_secret,
            seen: Vec::new(),
        }
    }

    /// Reports a field that is not one of the accepted ones (a warning: it is ignored).
    pub fn unknown(&self, field: &Field, report: &mut Report) {
        let accepted = self.accepted.join(", ");
        let option = self.option;
        if self.has_secret {
            report.warn(format!(
                "{option}: unknown field number {} ignored (not shown: it may be part of a secret that contains a comma); accepted fields: {accepted}",
                field.position
            ));
            return;
        }
        let name = &field.name;
        let hint = closest(name, self.accepted)
            .map(|c| format!(" (did you mean \"{c}\"?)"))
            .unwrap_or_default();
        report.warn(format!(
            "{option}: unknown field \"{name}\" ignored{hint}; accepted fields: {accepted}"
        ));
    }

    /// Records that `field` was seen; an error (and `false`) when it was already given.
    pub fn first_time(&mut self, field: &Field, report: &mut Report) -> bool {
        let name = &field.name;
        if self.seen.iter().any(|s| s == name) {
            report.error(format!(
                "{}: field \"{name}\" is given more than once",
                self.option
            ));
            return false;
        }
        self.seen.push(name.clone());
        true
    }

    /// The value of a `name=value` field; an error when it is missing or empty.
    pub fn value<'f>(&self, field: &'f Field, report: &mut Report) -> Option<&'f str> {
        match field.value.as_deref() {
            Some(v) if !v.is_empty() => Some(v),
            Some(_) => {
                report.error(format!(
                    "{}: field \"{}\" has an empty value",
                    self.option, field.name
                ));
                None
            }
            None => {
                report.error(format!(
                    "{}: field \"{}\" needs a value ({}=...)",
                    self.option, field.name, field.name
                ));
                None
            }
        }
    }

    /// A flag field: an error if it was given a value.
    pub fn flag(&self, field: &Field, report: &mut Report) -> bool {
        if field.value.is_some() {
            report.error(format!(
                "{}: \"{}\" is a flag and takes no value",
                self.option, field.name
            ));
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        let mut r = Report::default();
        let f = split_fields("b2c.x", " a , b=1 ,c= 2,", &mut r);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].name, "a");
        assert_eq!(f[0].value, None);
        assert_eq!(f[1].name, "b");
        assert_eq!(f[1].value.as_deref(), Some("1"));
        assert_eq!(f[2].value.as_deref(), Some("2"));
        assert_eq!(f[2].position, 3);
        assert_eq!(r.warnings, ["b2c.x: empty field (stray comma) ignored"]);
        assert!(r.errors.is_empty());
    }

    #[test]
    fn checker_messages() {
        let mut r = Report::default();
        let mut c = FieldChecker::new("b2c.v=x", &["overwrite", "remove"], false);
        let f = split_fields("b2c.v=x", "overwrit,remove=1,remove,remove,k=", &mut r);
        c.unknown(&f[0], &mut r);
        assert_eq!(
            r.warnings,
            ["b2c.v=x: unknown field \"overwrit\" ignored (did you mean \"overwrite\"?); accepted fields: overwrite, remove"]
        );
        assert!(!c.flag(&f[1], &mut r));
        assert!(c.first_time(&f[2], &mut r));
        assert!(!c.first_time(&f[3], &mut r));
        assert_eq!(c.value(&f[4], &mut r), None);
        assert_eq!(c.value(&f[2], &mut r), None);
        assert_eq!(
            r.errors,
            [
                "b2c.v=x: \"remove\" is a flag and takes no value",
                "b2c.v=x: field \"remove\" is given more than once",
                "b2c.v=x: field \"k\" has an empty value",
                "b2c.v=x: field \"remove\" needs a value (remove=...)",
            ]
        );
    }

    #[test]
    fn secret_options_do_not_quote_unknown_fields() {
        let mut r = Report::default();
        let c = FieldChecker::new("b2c.login=reg", &["username", "password"], true);
        let f = split_fields("", "reg,password=ab,cd", &mut r);
        c.unknown(&f[2], &mut r);
        assert!(!r.warnings[0].contains("cd"));
        assert!(r.warnings[0].contains("field number 3"));
    }
}
