//! PlaceService: settlement suggestions from the built-in gazetteer, for the place field of a
//! new call (the console, the CLI, anyone signed in).

use komek_places::{Fit, Gazetteer};
use komek_proto::places::v1 as api;
use komek_proto::places::v1::place_service_server::PlaceService;
use komek_proto::types::v1::LatLng;
use tonic::{Request, Response, Status};

use crate::validate;

#[derive(Debug, Default)]
pub struct Places;

#[tonic::async_trait]
impl PlaceService for Places {
    async fn search_settlements(
        &self,
        request: Request<api::SearchSettlementsRequest>,
    ) -> Result<Response<api::SearchSettlementsResponse>, Status> {
        let (query, limit, region) = validate::search_settlements(request.get_ref())?;
        let settlements = Gazetteer::kazakhstan()
            .search(&query, region.as_deref(), limit)
            .into_iter()
            .map(|hit| {
                let p = hit.place;
                api::Settlement {
                    name_kk: p.name_kk.clone(),
                    name_ru: p.name_ru.clone(),
                    name_en: p.name_en.clone(),
                    point: Some(LatLng {
                        latitude: p.lat,
                        longitude: p.lon,
                    }),
                    region: p.region.clone(),
                    district: p.district.clone(),
                    region_ru: p.region_ru.clone(),
                    district_ru: p.district_ru.clone(),
                    population: p.population.map_or(0, i64::from),
                    kind: p.kind.clone(),
                    fit: fit(hit.fit) as i32,
                }
            })
            .collect();
        Ok(Response::new(api::SearchSettlementsResponse {
            settlements,
        }))
    }
}

fn fit(f: Fit) -> api::SettlementFit {
    match f {
        Fit::Exact => api::SettlementFit::Exact,
        Fit::Name => api::SettlementFit::Name,
        Fit::Word => api::SettlementFit::Word,
        Fit::Typo => api::SettlementFit::Typo,
    }
}
