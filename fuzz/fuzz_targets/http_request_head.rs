#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| svcprobe::fuzz::http_request_head(data));
