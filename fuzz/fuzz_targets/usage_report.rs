#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tollgate_core::fuzzing::usage_report(data));
