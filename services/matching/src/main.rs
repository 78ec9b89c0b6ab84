use komek_runtime::{config, shutdown, telemetry};

// Under the same load the services spent a fifth less CPU per call with mimalloc than with
// glibc's allocator (BENCHMARKS.md, the pipeline's step 7).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: komek_matching::Config =
        config::load(komek_matching::Config::default(), std::env::args().skip(1))?;
    let _telemetry = telemetry::init("matching", &config.base.log)?;
    komek_matching::run(config, shutdown::on_signal()).await
}
