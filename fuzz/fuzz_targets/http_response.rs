#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| svcprobe::fuzz::http_response(data));
