use komek_runtime::{shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: komek_console::Config =
        komek_runtime::config::load(komek_console::Config::default(), std::env::args().skip(1))?;
    let _telemetry = telemetry::init("console", &config.log)?;
    komek_console::run(config, shutdown::on_signal()).await
}
