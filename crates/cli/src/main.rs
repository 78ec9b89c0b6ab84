//! `komek`: see `komek --help`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    komek_cli::run(std::env::args().collect()).await
}
