//! What the gate costs a call: checking an API key (keyring lookup, HMAC-SHA256 of the secret
//! compared in constant time, the role × method matrix, the principal's token bucket), a
//! service token and the bootstrap admin key, against decoding the call's own request
//! message, which every call pays anyway.

use std::hint::black_box;
use std::sync::Arc;

use base64::Engine;
use criterion::{Criterion, criterion_group, criterion_main};
use komek_proto::events::v1 as ev;
use komek_proto::intake::v1 as intake;
use komek_proto::types::v1 as pb;
use komek_runtime::auth::gate::{Gate, RateLimit, RateLimits};
use komek_runtime::auth::keyring::Keyring;
use komek_runtime::auth::{Config, Credentials, NewKey, Role};
use komek_runtime::follow::LastValue;
use prost::Message;

const PATH: &str = "/komek.intake.v1.IntakeService/CreateRequest";

fn gate() -> (Gate, String, String, String) {
    let b64 = |b: u8| base64::engine::general_purpose::STANDARD.encode([b; 32]);
    let admin = "bench-bootstrap-admin-key-0123456789abcdef".to_string();
    let credentials = Credentials::from_config(&Config {
        key_pepper: b64(1),
        bootstrap_admin_key: admin.clone(),
        service_secret: b64(2),
        ..Default::default()
    })
    .unwrap();
    let keyring = Arc::new(Keyring::default());
    // A keyring the size of a large deployment: ten thousand volunteers' phones.
    let mut dispatcher = String::new();
    for i in 0..10_000 {
        let key = NewKey::generate().unwrap();
        let role = if i == 0 {
            Role::Dispatcher
        } else {
            Role::Volunteer
        };
        keyring
            .apply(&ev::ApiKeyState {
                key: format!("apiKeys/{}", key.id),
                role: role.code(),
                subject: format!("{}/{i}", role.collection()),
                secret_hash: credentials.hash_secret(&key.secret).to_vec(),
                revision: 1,
                ..Default::default()
            })
            .unwrap();
        if i == 0 {
            dispatcher = key.secret;
        }
    }
    let service = credentials
        .service_token("matching", std::time::Duration::from_secs(3600))
        .unwrap();
    // Limits high enough that the bench measures the bucket, not refusals.
    let unlimited = RateLimit {
        per_second: 1e12,
        burst: u32::MAX,
    };
    let limits = RateLimits {
        admin: unlimited,
        dispatcher: unlimited,
        volunteer: unlimited,
        partner: unlimited,
        service: unlimited,
    };
    (
        Gate::new(credentials, keyring, limits),
        format!("Bearer {dispatcher}"),
        format!("Bearer {service}"),
        format!("Bearer {admin}"),
    )
}

fn request() -> Vec<u8> {
    // A hotline call as an operator records it (Talgar, Almaty Region).
    intake::CreateRequestRequest {
        request_id: "0190a0c0-0000-7000-8000-000000000001".into(),
        channel: pb::Channel::Hotline as i32,
        caller: Some(intake::Caller {
            display_name: "Бақытжан Сейітов".into(),
            phone: "+77017770011".into(),
            preferred_language: pb::Language::Kazakh as i32,
            anonymous: false,
        }),
        location: Some(pb::Location {
            point: Some(pb::LatLng {
                latitude: 43.3035,
                longitude: 77.2408,
            }),
            address: "ул. Абая, 15".into(),
            settlement: "Talghar".into(),
            district: "Talgarskiy".into(),
            region: "Almaty Region".into(),
            ..Default::default()
        }),
        description: "Зейнеткерге көмір керек, 2 тонна, үйде жылу жоқ".into(),
        people_count: 1,
        ..Default::default()
    }
    .encode_to_vec()
}

fn bench(c: &mut Criterion) {
    let (gate, dispatcher, service, admin) = gate();
    let bytes = request();
    let mut group = c.benchmark_group("gate");
    group.bench_function("baseline: decode the CreateRequest message", |b| {
        b.iter(|| intake::CreateRequestRequest::decode(black_box(bytes.as_slice())).unwrap())
    });
    group.bench_function("API key", |b| {
        b.iter(|| gate.check(black_box(PATH), Some(&dispatcher)).unwrap())
    });
    group.bench_function("service token", |b| {
        b.iter(|| {
            gate.check(
                black_box("/komek.intake.v1.IntakeService/RevealCaller"),
                Some(&service),
            )
            .unwrap()
        })
    });
    group.bench_function("bootstrap admin key", |b| {
        b.iter(|| gate.check(black_box(PATH), Some(&admin)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
