#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trent_fuzz_targets::json(data));
