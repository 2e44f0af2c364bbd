#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| svcprobe::fuzz::k8s_objects(data));
