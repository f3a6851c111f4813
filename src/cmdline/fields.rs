//! Comma-separated fields inside an option's value, and the messages about them.

use super::problem::Problem;
use super::suggest::closest;

/// Warnings and errors collected while parsing one occurrence of an option.
/// Each is a [`Problem`] about the option the report was made for, and
/// about the instance its parser named with [`Report::set_instance`].
#[derive(Debug, Default)]
pub(crate) struct Report {
    option: Option<String>,
    instance: Option<String>,
    pub warnings: Vec<Problem>,
    pub errors: Vec<Problem>,
}

impl Report {
    /// A report about the option `key`.
    pub fn for_option(key: &str) -> Report {
        Report {
            option: Some(key.to_string()),
            ..Report::default()
        }
    }

    /// The problems reported from now on are about the definition `name`
    /// (`eth0` of `b2c.iface=eth0`).
    pub fn set_instance(&mut self, name: &str) {
        self.instance = Some(name.to_string());
    }

    fn problem(&self, msg: String, field: Option<String>, suggestion: Option<String>) -> Problem {
        Problem {
            option: self.option.clone(),
            instance: self.instance.clone(),
            field,
            message: msg,
            suggestion,
        }
    }

    /// A warning about the option as a whole.
    pub fn warn(&mut self, msg: impl Into<String>) {
        self.draft().warn(msg);
    }

    /// An error about the option as a whole.
    pub fn error(&mut self, msg: impl Into<String>) {
        self.draft().error(msg);
    }

    /// A problem about the field `name` of the value.
    pub fn field(&mut self, name: &str) -> Draft<'_> {
        Draft {
            field: Some(name.to_string()),
            ..self.draft()
        }
    }

    fn draft(&mut self) -> Draft<'_> {
        Draft {
            report: self,
            field: None,
            suggestion: None,
        }
    }
}

/// A problem being described: [`Draft::warn`] or [`Draft::error`] adds it.
pub(crate) struct Draft<'r> {
    report: &'r mut Report,
    field: Option<String>,
    suggestion: Option<String>,
}

impl Draft<'_> {
    /// Adds a suggestion (none when `suggestion` is `None`).
    pub fn suggest(mut self, suggestion: Option<impl Into<String>>) -> Self {
        self.suggestion = suggestion.map(Into::into);
        self
    }

    /// Reports it as a warning.
    pub fn warn(self, msg: impl Into<String>) {
        let p = self.report.problem(msg.into(), self.field, self.suggestion);
        self.report.warnings.push(p);
    }

    /// Reports it as an error.
    pub fn error(self, msg: impl Into<String>) {
        let p = self.report.problem(msg.into(), self.field, self.suggestion);
        self.report.errors.push(p);
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
            // Not even the field's name: it may be a piece of a secret.
            report.warn(format!(
                "{option}: unknown field number {} ignored (not shown: it may be part of a secret that contains a comma); accepted fields: {accepted}",
                field.position
            ));
            return;
        }
        let name = &field.name;
        let suggestion = closest(name, self.accepted);
        let hint = suggestion
            .map(|c| format!(" (did you mean \"{c}\"?)"))
            .unwrap_or_default();
        report.field(name).suggest(suggestion).warn(format!(
            "{option}: unknown field \"{name}\" ignored{hint}; accepted fields: {accepted}"
        ));
    }

    /// Records that `field` was seen; an error (and `false`) when it was already given.
    pub fn first_time(&mut self, field: &Field, report: &mut Report) -> bool {
        let name = &field.name;
        if self.seen.iter().any(|s| s == name) {
            report.field(name).error(format!(
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
                report.field(&field.name).error(format!(
                    "{}: field \"{}\" has an empty value",
                    self.option, field.name
                ));
                None
            }
            None => {
                report.field(&field.name).error(format!(
                    "{}: field \"{}\" needs a value ({}=...)",
                    self.option, field.name, field.name
                ));
                None
            }
        }
    }

    /// The value parsed for the required field `name`; an error when the
    /// field was not given.
    pub fn required<T>(&self, name: &str, value: Option<T>, report: &mut Report) -> Option<T> {
        if value.is_none() {
            report
                .field(name)
                .error(format!("{}: field \"{name}\" is missing", self.option));
        }
        value
    }

    /// A flag field: an error if it was given a value.
    pub fn flag(&self, field: &Field, report: &mut Report) -> bool {
        if field.value.is_some() {
            report.field(&field.name).error(format!(
                "{}: \"{}\" is a flag and takes no value",
                self.option, field.name
            ));
            return false;
        }
        true
    }
}

/// An on/off option (`b2c.pipefail`, `b2c.strict`): alone, or `=1`,
/// `=true`, `=yes`, `=on` turn it on; `=0`, `=false`, `=no`, `=off` turn it
/// off. Another value is an error.
pub(crate) fn parse_switch(key: &str, value: Option<&str>, report: &mut Report) -> Option<bool> {
    match value {
        None | Some("1" | "true" | "yes" | "on") => Some(true),
        Some("0" | "false" | "no" | "off") => Some(false),
        Some(other) => {
            report.error(format!(
                "{key}: \"{other}\" is not a boolean (write {key} alone, or {key}=1 / {key}=0)"
            ));
            None
        }
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
    fn problems_know_their_option_instance_and_field() {
        let mut r = Report::for_option("b2c.iface");
        r.error("before the name");
        r.set_instance("eth0");
        let c = FieldChecker::new("b2c.iface=eth0", &["address", "dhcp"], false);
        let f = split_fields("", "eth0,adress=1,dhcp=1", &mut r);
        c.unknown(&f[1], &mut r);
        c.flag(&f[2], &mut r);
        r.field("address").error("bad address");
        fn parts(p: &Problem) -> (Option<&str>, Option<&str>, Option<&str>, Option<&str>) {
            (
                p.option.as_deref(),
                p.instance.as_deref(),
                p.field.as_deref(),
                p.suggestion.as_deref(),
            )
        }
        assert_eq!(parts(&r.errors[0]), (Some("b2c.iface"), None, None, None));
        assert_eq!(
            parts(&r.errors[1]),
            (Some("b2c.iface"), Some("eth0"), Some("dhcp"), None)
        );
        assert_eq!(
            parts(&r.errors[2]),
            (Some("b2c.iface"), Some("eth0"), Some("address"), None)
        );
        assert_eq!(
            parts(&r.warnings[0]),
            (
                Some("b2c.iface"),
                Some("eth0"),
                Some("adress"),
                Some("address")
            )
        );
    }

    #[test]
    fn switches() {
        let mut r = Report::default();
        for on in [None, Some("1"), Some("true"), Some("yes"), Some("on")] {
            assert_eq!(parse_switch("b2c.x", on, &mut r), Some(true));
        }
        for off in ["0", "false", "no", "off"] {
            assert_eq!(parse_switch("b2c.x", Some(off), &mut r), Some(false));
        }
        assert!(r.errors.is_empty());
        assert_eq!(parse_switch("b2c.x", Some("2"), &mut r), None);
        assert_eq!(
            r.errors,
            ["b2c.x: \"2\" is not a boolean (write b2c.x alone, or b2c.x=1 / b2c.x=0)"]
        );
    }

    #[test]
    fn secret_options_do_not_quote_unknown_fields() {
        let mut r = Report::default();
        let c = FieldChecker::new("b2c.login=reg", &["username", "password"], true);
        let f = split_fields("", "reg,password=ab,cd", &mut r);
        c.unknown(&f[2], &mut r);
        assert!(!r.warnings[0].message.contains("cd"));
        assert!(r.warnings[0].message.contains("field number 3"));
        assert_eq!(r.warnings[0].field, None);
    }
}
