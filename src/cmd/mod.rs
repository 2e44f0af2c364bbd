//! One module per subcommand. Each `run` takes its parsed arguments and returns its
//! report (or the error that kept it from running); printing is `output`'s job. Each is a
//! leaf: what commands share lives in `probe`, `input`, `dns` and the other library modules.

pub mod diagnose;
pub mod dns;
pub mod exporter;
pub mod hairpin;
pub mod http;
pub mod node;
pub mod nslookup;
pub mod resolvconf;
pub mod serve;
pub mod tcp;
