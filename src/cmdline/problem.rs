//! One warning or error about the command line, with what the parser knew
//! when it found it: the option, the instance of a keyed option, the field,
//! a suggestion. `b2c check --json` lists them as `problems`.

use serde::Serialize;
use std::fmt;

/// A warning or an error about one option (whether it is one or the other
/// is the list of [`super::Config`] it is in). No part of it ever holds a
/// secret: the parsers never quote one, and fields that could be a piece
/// of a secret are not named.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Problem {
    /// The option concerned, by its key (`b2c.run` for `b2c.container` too);
    /// an unknown key as written. `None` for a word that is not an option.
    pub option: Option<String>,
    /// The name that identifies one definition of a keyed option: the
    /// interface of `b2c.iface=eth0`, the volume of `b2c.volume=job`...
    pub instance: Option<String>,
    /// The field of the value concerned (`address` of `b2c.iface`), if one is.
    pub field: Option<String>,
    /// The whole message, as printed on the console.
    pub message: String,
    /// What was probably meant, or how to fix it: the closest known key or
    /// field, a command that makes a valid value.
    pub suggestion: Option<String>,
}

impl Problem {
    /// A problem about `option` (`None`: about no option in particular).
    pub fn new(option: Option<&str>, message: impl Into<String>) -> Problem {
        Problem {
            option: option.map(str::to_string),
            message: message.into(),
            ..Problem::default()
        }
    }

    /// The same problem about `field`.
    pub fn with_field(mut self, field: &str) -> Problem {
        self.field = Some(field.to_string());
        self
    }

    /// The same problem about the definition named `instance`.
    pub fn with_instance(mut self, instance: &str) -> Problem {
        self.instance = Some(instance.to_string());
        self
    }

    /// The same problem with a suggestion.
    pub fn with_suggestion(mut self, suggestion: impl Into<String>) -> Problem {
        self.suggestion = Some(suggestion.into());
        self
    }

    /// Applies `f` to every text of the problem (for escaping).
    pub(crate) fn map_texts(&mut self, f: impl Fn(&str) -> String) {
        for text in [
            &mut self.option,
            &mut self.instance,
            &mut self.field,
            &mut self.suggestion,
        ]
        .into_iter()
        .flatten()
        {
            *text = f(text);
        }
        self.message = f(&self.message);
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A problem equals a text when its message does (for tests and look-ups).
impl PartialEq<str> for Problem {
    fn eq(&self, other: &str) -> bool {
        self.message == other
    }
}

impl PartialEq<&str> for Problem {
    fn eq(&self, other: &&str) -> bool {
        self.message == *other
    }
}

/// Serializes a list of problems as the list of their messages (the
/// `warnings` and `errors` of `b2c check --json`).
pub(crate) fn messages<S: serde::Serializer>(
    problems: &[Problem],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(problems.iter().map(|p| &p.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_and_display() {
        let p = Problem::new(Some("b2c.iface"), "b2c.iface=eth0: bad")
            .with_instance("eth0")
            .with_field("address")
            .with_suggestion("192.168.42.1/24");
        assert_eq!(p.to_string(), "b2c.iface=eth0: bad");
        assert_eq!(p, "b2c.iface=eth0: bad");
        assert_eq!(
            serde_json::to_value(&p).ok(),
            Some(serde_json::json!({
                "option": "b2c.iface",
                "instance": "eth0",
                "field": "address",
                "message": "b2c.iface=eth0: bad",
                "suggestion": "192.168.42.1/24",
            }))
        );
        let mut p = Problem::new(None, "a\u{1b}b").with_field("\u{1b}");
        p.map_texts(|s| s.replace('\u{1b}', "ESC"));
        assert_eq!(
            (p.message.as_str(), p.field.as_deref()),
            ("aESCb", Some("ESC"))
        );
        assert_eq!(p.option, None);
    }
}
