use komek_runtime::{config, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: komek_intake::Config =
        config::load(komek_intake::Config::default(), std::env::args().skip(1))?;
    let _telemetry = telemetry::init("intake", &config.base.log)?;
    komek_intake::run(config, shutdown::on_signal()).await
}
