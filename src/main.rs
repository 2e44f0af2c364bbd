//! svcprobe: one static binary that walks the Kubernetes "Debug Services" guide from
//! inside a pod. `main` only parses, runs, prints and exits; everything else is the library.

fn main() -> std::process::ExitCode {
    let code = match svcprobe::cli::parse(std::env::args_os().skip(1).collect()) {
        Ok(cli) => svcprobe::run(cli.command, cli.format),
        Err(error) => {
            eprintln!("svcprobe: {error}");
            error.exit_code()
        }
    };
    std::process::ExitCode::from(code as u8)
}
