//! svcprobe: one static binary that walks the Kubernetes "Debug Services" guide from
//! inside a pod. `main` only parses, runs, prints and exits; each command lives in `cmd`.

mod cli;
mod cmd;
mod diagnose;
mod dns;
mod error;
mod hairpin;
mod http;
mod k8s;
mod kubeapi;
mod net;
mod output;
mod report;
mod resolvconf;
mod sockdiag;
mod tls;

use cli::{Command, Format};
use error::{Error, ExitCode};

fn main() -> std::process::ExitCode {
    let code = match cli::parse(std::env::args_os().skip(1).collect()) {
        Ok(cli) => run(cli.command, cli.format),
        Err(error) => {
            eprintln!("svcprobe: {error}\nTry 'svcprobe --help'.");
            error.exit_code()
        }
    };
    std::process::ExitCode::from(code as u8)
}

fn run(command: Command, format: Format) -> ExitCode {
    let printed = match command {
        Command::Help(text) => output::write_stdout(text).map(|()| ExitCode::Ok),
        Command::Version => {
            output::write_stdout(concat!("svcprobe ", env!("CARGO_PKG_VERSION"), "\n"))
                .map(|()| ExitCode::Ok)
        }
        Command::Resolvconf(args) => finish("resolvconf", cmd::resolvconf::run(&args), format),
        Command::Nslookup(args) => finish("nslookup", cmd::nslookup::run(&args), format),
        Command::Tcp(args) => finish("tcp", cmd::tcp::run(&args), format),
        Command::Http(args) => finish("http", cmd::http::run(&args), format),
        Command::Serve(args) => finish("serve", cmd::serve::run(&args), format),
        Command::Diagnose(args) => finish("diagnose", cmd::diagnose::run(&args), format),
        Command::Hairpin(args) => finish("hairpin", cmd::hairpin::run(&args), format),
    };
    printed.unwrap_or_else(|e| {
        eprintln!("svcprobe: cannot write output: {e}");
        ExitCode::CouldNotRun
    })
}

/// Prints a command's report or error and picks the exit code from it.
fn finish<T: serde::Serialize + output::Text>(
    command: &'static str,
    result: Result<report::Envelope<T>, Error>,
    format: Format,
) -> std::io::Result<ExitCode> {
    match result {
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
