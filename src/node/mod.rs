//! `svcprobe node`: the guide's kube-proxy half, read from a node debug pod.

pub mod rules;
