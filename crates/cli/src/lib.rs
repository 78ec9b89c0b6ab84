//! `komek`: one binary for people at a terminal and for scripts, over the same gRPC API and keys
//! as the console. Tables and messages in Kazakh, Russian or English (the console's message
//! files), `--output json` for scripts, and exit codes that say what happened.

pub mod args;
mod commands;
pub mod output;
pub mod settings;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use args::{Cli, Command};
use output::Out;
use settings::Settings;

/// Runs the command line `args` (with the program name first) and says how it ended.
pub async fn run(args: Vec<String>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version are not failures; usage errors exit 2.
            let _ = err.print();
            return ExitCode::from(err.exit_code() as u8);
        }
    };
    if let Command::Completions { shell } = &cli.command {
        clap_complete::generate(*shell, &mut Cli::command(), "komek", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::resolve(&cli) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("komek: {err:#}");
            return ExitCode::from(2);
        }
    };
    let out = Out {
        lang: settings.lang,
        form: settings.output,
    };
    match commands::run(&cli.command, &settings, &out).await {
        Ok(code) => code,
        Err(commands::Failure::Refused(status)) => out.refused(&status),
        Err(commands::Failure::Input(message)) => out.input(&message),
        Err(commands::Failure::Local(err)) => out.failed(&err),
    }
}
