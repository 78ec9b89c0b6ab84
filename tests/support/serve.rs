//! One service run as its own binary runs it (configuration from `KOMEK_*` variables and the
//! arguments), so a load or fault run starts every service from its one executable.

use komek_runtime::{config, shutdown, telemetry};

/// Runs one service as its own binary would.
pub fn service(service: &str, args: Vec<String>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match service {
            "intake" => {
                let config: komek_intake::Config =
                    config::load(komek_intake::Config::default(), args)?;
                let _telemetry = telemetry::init("intake", &config.base.log)?;
                Box::pin(komek_intake::run(config, shutdown::on_signal())).await
            }
            "triage" => {
                let config: komek_triage::Config =
                    config::load(komek_triage::Config::default(), args)?;
                let _telemetry = telemetry::init("triage", &config.base.log)?;
                komek_triage::run(config, shutdown::on_signal()).await
            }
            "roster" => {
                let config: komek_roster::Config =
                    config::load(komek_roster::Config::default(), args)?;
                let _telemetry = telemetry::init("roster", &config.base.log)?;
                komek_roster::run(config, shutdown::on_signal()).await
            }
            "matching" => {
                let config: komek_matching::Config =
                    config::load(komek_matching::Config::default(), args)?;
                let _telemetry = telemetry::init("matching", &config.base.log)?;
                Box::pin(komek_matching::run(config, shutdown::on_signal())).await
            }
            other => anyhow::bail!("no service called {other:?}"),
        }
    })
}
