//! The shape of an entry of the option table ([`super::options::OPTIONS`]):
//! what the table says of each option, and how the reference and the
//! checker word it.

use serde::Serialize;

use super::fields::Report;
use super::Config;

/// When an option acts, relative to the download of `b2c.extra_args_url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Before the extra arguments are downloaded: only the kernel command
    /// line can give it (in the extra arguments it is a warning).
    Early,
    /// After: the extra arguments may give it too.
    Late,
}

impl Stage {
    /// How the reference and the checker say it.
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Early => "before the extra arguments are downloaded (kernel command line only)",
            Stage::Late => "after the extra arguments are merged (may be given in them)",
        }
    }
}

/// How several occurrences of an option combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Repeat {
    /// The last occurrence wins.
    Last,
    /// Every occurrence is kept, in command-line order.
    Append,
    /// One definition per name (the value's first field); a later one with
    /// the same name replaces the earlier one, with a warning.
    ByName,
}

impl Repeat {
    /// How the reference and the checker say it.
    pub fn describe(self) -> &'static str {
        match self {
            Repeat::Last => "once (the last occurrence wins)",
            Repeat::Append => "repeatable (every occurrence is kept, in order)",
            Repeat::ByName => {
                "repeatable, one per name (a later definition of a name replaces the earlier one)"
            }
        }
    }
}

/// Whether an option needs a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Takes {
    /// `KEY=VALUE`; `KEY` alone or `KEY=` is an error.
    Value,
    /// `KEY` alone is meaningful (a flag, or a kernel option).
    OptionalValue,
}

/// The README section an option belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Containers and pipeline.
    Pipeline,
    /// Network.
    Network,
    /// Storage.
    Storage,
    /// Kernel modules.
    Modules,
    /// Volumes and S3.
    Volumes,
}

/// Where an option was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Cmdline,
    ExtraArgs,
}

impl Source {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Source::Cmdline => "command line",
            Source::ExtraArgs => "extra arguments",
        }
    }
}

/// One occurrence of an option, as handed to its parser.
pub(crate) struct Given<'a> {
    /// The key as written (an alias stays an alias in messages).
    pub key: &'a str,
    /// The value: always present and non-empty for [`Takes::Value`] options.
    pub value: Option<&'a str>,
    /// Where it was given.
    pub source: Source,
}

impl Given<'_> {
    pub(crate) fn text(&self) -> &str {
        self.value.unwrap_or_default()
    }
}

/// Parses one occurrence and stores it in the configuration.
pub(crate) type Apply = fn(&mut Config, &Given<'_>, &mut Report);

/// One option of the table.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OptionSpec {
    /// The key, e.g. `b2c.run`.
    pub key: &'static str,
    /// Older names accepted as exact aliases.
    pub aliases: &'static [&'static str],
    /// The syntax, e.g. `b2c.swap=SIZE|/dev/DEV[,swappiness=N]`.
    pub syntax: &'static str,
    /// The README section it belongs to.
    pub group: Group,
    /// When it acts.
    pub stage: Stage,
    /// How repeated occurrences combine.
    pub repeat: Repeat,
    /// Whether it needs a value.
    pub takes: Takes,
    /// The named fields its value accepts (empty: no named fields).
    pub fields: &'static [&'static str],
    /// The key of its setting in the configuration (and in `b2c check --json`).
    pub setting: &'static str,
    /// What happens when it is not given ("" when nothing does).
    pub default: &'static str,
    /// What the init does instead when a value cannot be used, for options
    /// the original boot2container used anyway (it ran `sleep VALUE`,
    /// `hostname VALUE || true`...): such a value is a warning ending with
    /// this text, and the parser applies the fallback (an empty value
    /// always gives it). "" when a bad value is an error.
    pub fallback: &'static str,
    /// One line: what it does.
    pub summary: &'static str,
    /// A valid example.
    pub example: &'static str,
    /// The file of its parser.
    pub parsed_in: &'static str,
    /// The files of the code that acts on it.
    pub acted_on_in: &'static [&'static str],
    /// Parses one occurrence into the configuration.
    #[serde(skip)]
    pub(crate) apply: Apply,
}

impl OptionSpec {
    /// True for an option of the kernel rather than of boot2container
    /// (`ip=`): never an error of ours, only warnings.
    pub fn is_kernel_option(&self) -> bool {
        !self.key.starts_with("b2c.")
    }

    /// True when a bad value is a warning and [`OptionSpec::fallback`] is
    /// applied, rather than an error.
    pub fn is_lenient(&self) -> bool {
        !self.fallback.is_empty()
    }

    /// What a value that cannot be used does, as the reference says it.
    pub fn bad_value(&self) -> String {
        if self.is_kernel_option() {
            "a warning (the kernel's option: never an error of ours)".to_string()
        } else if self.is_lenient() {
            format!("a warning: {}", self.fallback)
        } else {
            "an error: the pipeline does not run".to_string()
        }
    }

    /// The option's block in `docs/options.md`, which a test checks: its
    /// facts, as this table states them, then its summary.
    pub fn reference_block(&self) -> String {
        let code = |items: &[&str]| {
            if items.is_empty() {
                "none".to_string()
            } else {
                items
                    .iter()
                    .map(|i| format!("`{i}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let default = if self.default.is_empty() {
            "none"
        } else {
            self.default
        };
        format!(
            "### `{key}`\n\n\
             | | |\n| --- | --- |\n\
             | syntax | `{syntax}` |\n\
             | aliases | {aliases} |\n\
             | given | {repeat} |\n\
             | acts | {stage} |\n\
             | default | {default} |\n\
             | a bad value | {bad} |\n\
             | example | `{example}` |\n\
             | parsed in | {parsed} |\n\
             | acted on in | {acted} |\n\n\
             {summary}\n",
            key = self.key,
            syntax = self.syntax.replace('|', "\\|"),
            aliases = code(self.aliases),
            repeat = self.repeat.describe(),
            stage = self.stage.describe(),
            bad = self.bad_value(),
            example = self.example.replace('|', "\\|"),
            parsed = code(&[self.parsed_in]),
            acted = code(self.acted_on_in),
            summary = self.summary,
        )
    }
}
