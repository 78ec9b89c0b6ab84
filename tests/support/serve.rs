//! One service run as its own binary runs it (configuration from `KOMEK_*` variables and the
//! arguments), so a load or fault run starts every service from its one executable.

use komek_proto::intake::v1 as intake;
use komek_proto::intake::v1::intake_service_server::{IntakeService, IntakeServiceServer};
use komek_proto::types::v1 as pb;
use komek_runtime::{config, shutdown, telemetry};
use tonic::{Request, Response, Status};

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
            "echo" => {
                let port: u16 = args.first().map_or(Ok(0), |p| p.parse())?;
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
                tonic::transport::Server::builder()
                    .add_service(IntakeServiceServer::new(Echo))
                    .serve_with_incoming_shutdown(
                        // As the services serve: without Nagle's algorithm.
                        tonic::transport::server::TcpIncoming::from(listener)
                            .with_nodelay(Some(true)),
                        shutdown::on_signal().cancelled_owned(),
                    )
                    .await?;
                Ok(())
            }
            other => anyhow::bail!("no service called {other:?}"),
        }
    })
}

/// The baseline of the intake benchmark: tonic serving intake's API with nothing behind it.
/// CreateRequest answers with the request it was given, as a stored one would look; nothing
/// is checked, stored or published. The rest is not served.
struct Echo;

#[tonic::async_trait]
impl IntakeService for Echo {
    async fn create_request(
        &self,
        request: Request<intake::CreateRequestRequest>,
    ) -> Result<Response<intake::Request>, Status> {
        let r = request.into_inner();
        Ok(Response::new(intake::Request {
            name: format!("requests/{}", r.request_id),
            reference_code: "K-0000-0000".into(),
            channel: r.channel,
            location: r.location,
            description: r.description,
            status: pb::RequestStatus::New as i32,
            create_time: Some(std::time::SystemTime::now().into()),
            ..Default::default()
        }))
    }

    async fn get_request(
        &self,
        _: Request<intake::GetRequestRequest>,
    ) -> Result<Response<intake::Request>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn batch_get_requests(
        &self,
        _: Request<intake::BatchGetRequestsRequest>,
    ) -> Result<Response<intake::BatchGetRequestsResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn list_requests(
        &self,
        _: Request<intake::ListRequestsRequest>,
    ) -> Result<Response<intake::ListRequestsResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn cancel_request(
        &self,
        _: Request<intake::CancelRequestRequest>,
    ) -> Result<Response<intake::Request>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn find_by_reference(
        &self,
        _: Request<intake::FindByReferenceRequest>,
    ) -> Result<Response<intake::Request>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn reveal_caller(
        &self,
        _: Request<intake::RevealCallerRequest>,
    ) -> Result<Response<intake::CallerReveal>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn erase_request(
        &self,
        _: Request<intake::EraseRequestRequest>,
    ) -> Result<Response<intake::Request>, Status> {
        Err(Status::unimplemented("echo"))
    }
}
