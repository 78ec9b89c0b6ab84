use komek_runtime::{shutdown, telemetry};

// Under the same load the services spent a fifth less CPU per call with mimalloc than with
// glibc's allocator (BENCHMARKS.md, the pipeline's step 7).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: komek_console::Config =
        komek_runtime::config::load(komek_console::Config::default(), std::env::args().skip(1))?;
    let _telemetry = telemetry::init("console", &config.log)?;
    komek_console::run(config, shutdown::on_signal()).await
}
