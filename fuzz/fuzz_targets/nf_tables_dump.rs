#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| svcprobe::fuzz::nf_tables_dump(data));
