#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| b2c_fuzz::probe::run(data));
