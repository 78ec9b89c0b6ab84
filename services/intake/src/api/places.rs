//! PlaceService: settlement suggestions from the built-in gazetteer (Kazakhstan and Belarus),
//! for the place field of a new call (the console, the CLI, anyone signed in).

use komek_places::admin::Admin;
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
        let admin = Admin::get();
        let settlements = Gazetteer::all()
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
                    region_id: p.region_id.to_string(),
                    district_id: p.district_id.clone(),
                    country: p.country().to_string(),
                    region_kk: admin
                        .region(p.region_id)
                        .map_or("", |r| r.name_kk)
                        .to_string(),
                    district_kk: admin
                        .district(None, &p.district_id)
                        .map_or("", |d| d.name("kk"))
                        .to_string(),
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
