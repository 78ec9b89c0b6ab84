use komek_runtime::{config, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: komek_triage::Config =
        config::load(komek_triage::Config::default(), std::env::args().skip(1))?;
    let _telemetry = telemetry::init("triage", &config.base.log)?;
    komek_triage::run(config, shutdown::on_signal()).await
}
