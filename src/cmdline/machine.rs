//! Options about the machine itself: `b2c.hostname`, `b2c.keymap`,
//! `b2c.poweroff_delay`, `b2c.shutdown_cmd` and `b2c.reboot_cmd`.

use super::fields::Report;
use super::validate;
use super::words::split_option;
use std::time::Duration;

/// The longest `b2c.poweroff_delay`: one day (a longer one is cut to it).
pub const POWEROFF_DELAY_MAX: Duration = Duration::from_secs(86_400);

pub(crate) fn parse_hostname(key: &str, value: &str, report: &mut Report) -> Option<String> {
    match validate::check_hostname(value) {
        Ok(()) => Some(value.to_string()),
        Err(e) => {
            report.error(format!("{key}: {e}"));
            None
        }
    }
}

pub(crate) fn parse_keymap(key: &str, value: &str, report: &mut Report) -> Option<String> {
    if validate::is_identifier(value) {
        Some(value.to_string())
    } else {
        report.error(format!(
            "{key}: \"{value}\" is not a keymap name (letters, digits, '_', '-' and '.', like fr, us or de-latin1)"
        ));
        None
    }
}

/// Parses `b2c.poweroff_delay` as busybox's `sleep`, which the original
/// boot2container ran with it, reads it: a number of seconds, with a
/// fraction or not (`15`, `1.5`, `.5`), optionally followed by a unit `s`,
/// `m`, `h` or `d`; or `inf`/`infinity`. More than one day waits one day.
pub(crate) fn parse_delay(key: &str, value: &str, report: &mut Report) -> Option<Duration> {
    let seconds = if matches!(value, "inf" | "infinity") {
        f64::INFINITY
    } else {
        let (number, scale) = match value.as_bytes().last() {
            Some(b's') => (&value[..value.len() - 1], 1.0),
            Some(b'm') => (&value[..value.len() - 1], 60.0),
            Some(b'h') => (&value[..value.len() - 1], 3600.0),
            Some(b'd') => (&value[..value.len() - 1], 86_400.0),
            _ => (value, 1.0),
        };
        let digits = number.chars().filter(char::is_ascii_digit).count();
        let points = number.chars().filter(|&c| c == '.').count();
        let parsed = if digits > 0 && points <= 1 && digits + points == number.len() {
            number.parse::<f64>().ok()
        } else {
            None
        };
        let Some(n) = parsed else {
            report.error(format!(
                "{key}: \"{value}\" is not a number of seconds (like 15, 1.5 or 2m)"
            ));
            return None;
        };
        n * scale
    };
    if seconds > POWEROFF_DELAY_MAX.as_secs_f64() {
        report.warn(format!(
            "{key}: \"{value}\" is more than one day: waiting one day ({} s)",
            POWEROFF_DELAY_MAX.as_secs()
        ));
        return Some(POWEROFF_DELAY_MAX);
    }
    // Finite, not negative and at most one day: cannot fail.
    Duration::try_from_secs_f64(seconds).ok()
}

/// Serializes a delay in seconds: a whole number when it is one.
pub(crate) fn serialize_seconds<S: serde::Serializer>(
    delay: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if delay.subsec_nanos() == 0 {
        serializer.serialize_u64(delay.as_secs())
    } else {
        serializer.serialize_f64(delay.as_secs_f64())
    }
}

pub(crate) fn parse_command(key: &str, value: &str, report: &mut Report) -> Option<Vec<String>> {
    split_option(key, value, "no command given", report)
}
