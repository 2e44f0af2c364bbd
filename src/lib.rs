//! svcprobe as a library: every parser, probe and command, so that the binary's `main` stays a
//! thin shell and the parsers can be fuzzed and the commands tested in-process.
//!
//! `run` takes a parsed command line and does what `svcprobe` does: runs the command, prints
//! its report (or error) in the asked format and returns the exit code.

pub mod cli;
pub mod clusterdns;
pub mod cmd;
pub mod decimal;
pub mod diagnose;
pub mod dns;
pub mod error;
pub mod exporter;
pub mod fuzz;
pub mod hairpin;
pub mod httpd;
pub mod input;
pub mod k8s;
pub mod kubeapi;
pub mod node;
pub mod output;
pub mod probe;
pub mod report;
pub mod resolvconf;
pub mod service_name;
pub mod sockdiag;
pub mod text;
pub mod thread_name;

use cli::{Command, Format};
use error::{Error, ExitCode};

/// Runs one parsed command, prints its report or error on stdout, and returns the exit code.
pub fn run(command: Command, format: Format) -> ExitCode {
    let printed = match command {
        Command::Help(text) => output::write_stdout(&text).map(|()| ExitCode::Ok),
        Command::Version => {
            output::write_stdout(concat!("svcprobe ", env!("CARGO_PKG_VERSION"), "\n"))
                .map(|()| ExitCode::Ok)
        }
        Command::Resolvconf(args) => finish("resolvconf", || cmd::resolvconf::run(&args), format),
        Command::Nslookup(args) => finish("nslookup", || cmd::nslookup::run(&args), format),
        Command::Tcp(args) => finish("tcp", || cmd::tcp::run(&args), format),
        Command::Http(args) => finish("http", || cmd::http::run(&args), format),
        Command::Serve(args) => finish("serve", || cmd::serve::run(&args), format),
        Command::Diagnose(args) => finish("diagnose", || cmd::diagnose::run(&args), format),
        Command::Dns(args) => finish("dns", || cmd::dns::run(&args), format),
        Command::Hairpin(args) => finish("hairpin", || cmd::hairpin::run(&args), format),
        Command::Exporter(args) => finish("exporter", || cmd::exporter::run(&args), format),
        Command::Node(args) => finish("node", || cmd::node::run(&args), format),
    };
    printed.unwrap_or_else(|e| {
        eprintln!("svcprobe: cannot write output: {e}");
        ExitCode::CouldNotRun
    })
}

/// Runs a command, prints its report or error and picks the exit code from it. Not inlined,
/// and the command runs in here: `run` would otherwise hold every command's code, result
/// and stack frame, so that the one command that runs touches them all (pages of code and
/// of stack: start-up time and RSS).
#[inline(never)]
fn finish<T: serde::Serialize + output::Text>(
    command: &'static str,
    run: impl FnOnce() -> Result<report::Envelope<T>, Error>,
    format: Format,
) -> std::io::Result<ExitCode> {
    match run() {
        Ok(envelope) => {
            output::emit(&envelope, format)?;
            Ok(if envelope.ok {
                ExitCode::Ok
            } else {
                ExitCode::Problem
            })
        }
        Err(error) => {
            output::emit_error(command, &error, format)?;
            Ok(error.exit_code())
        }
    }
}
