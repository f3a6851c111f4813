//! The checks behind the fuzz targets of `fuzz_targets/`: each target is one
//! line that hands libFuzzer's input to a `run` function here, which feeds it
//! to the init's own parser and asserts the invariants that matter (a panic
//! is what libFuzzer reports as a crash).

pub mod cmdline;
pub mod dhcp;
pub mod http;
pub mod nbd;
pub mod ntp;
pub mod probe;

/// Panics when `text`, bound for the console, holds a control character:
/// an escape sequence rewrites the console, and a newline forges a line
/// that the farms parsing the serial output would believe.
pub fn assert_console_safe(what: &str, text: &str) {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        panic!("{what}: control character {c:?} in a console message: {text:?}");
    }
}

/// A little reader of the fuzz input for targets that take structured input.
#[derive(Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Reads `data` from the start.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// The next byte (0 once the input is used up).
    pub fn u8(&mut self) -> u8 {
        let (first, rest) = self
            .data
            .split_first()
            .map_or((0, &[][..]), |(f, r)| (*f, r));
        self.data = rest;
        first
    }

    /// The next two bytes, big-endian (zeros past the end).
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// The next four bytes, big-endian (zeros past the end).
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next eight bytes, big-endian (zeros past the end).
    pub fn u64(&mut self) -> u64 {
        (u64::from(self.u32()) << 32) | u64::from(self.u32())
    }

    /// Up to `n` next bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    /// True once everything was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}
