use komek_runtime::{config, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: komek_roster::Config =
        config::load(komek_roster::Config::default(), std::env::args().skip(1))?;
    let _telemetry = telemetry::init("roster", &config.base.log)?;
    komek_roster::run(config, shutdown::on_signal()).await
}
