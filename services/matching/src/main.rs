use komek_runtime::{config, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: komek_matching::Config =
        config::load(komek_matching::Config::default(), std::env::args().skip(1))?;
    let _telemetry = telemetry::init("matching", &config.base.log)?;
    komek_matching::run(config, shutdown::on_signal()).await
}
