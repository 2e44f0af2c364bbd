//! A static program that does nothing: scripts/bench.sh's floor under every wall-time and RSS figure
//! (what spawning, exec and reaping cost with no work at all).

fn main() {}
