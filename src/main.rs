//! pacwarden binary: parse the command line, run the command, exit with its code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = pacwarden::cli::Cli::parse();
    pacwarden::cli::run(cli)
}
