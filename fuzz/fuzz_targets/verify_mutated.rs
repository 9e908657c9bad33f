#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tollgate_core::fuzzing::verify_mutated(data));
