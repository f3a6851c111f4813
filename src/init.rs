//! init

/// The init's entry point. Never returns.
pub fn main() -> ! {
    loop {
        std::thread::park();
    }
}
