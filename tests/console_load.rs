//! Load generator for the console's queue page: how much the page adds to the gRPC calls it
//! makes. Starts the four services on a private NATS and PostgreSQL and the console in process,
//! fills matching's tables with 2,000 open requests at real settlements (escalated, offered,
//! accepted), signs in over HTTP, then times, in alternation, the page
//! (`GET /queues?queue=QUEUE_ESCALATED`: three ListQueue calls at once and the HTML) and the same
//! three ListQueue calls made straight over gRPC.
//!
//! Usage: cargo run --release -p komek-tests --bin komek-console-load [OPEN...]
//! (default 2000). Method and figures: BENCHMARKS.md.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use komek_proto::matching::v1 as matching;
use komek_runtime::CancellationToken;
use komek_tests::System;
use komek_tests::seed::{Fate, seed_jobs};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Open requests only, in equal thirds.
fn open_fate(i: usize) -> Fate {
    match i % 3 {
        0 => Fate::Escalated,
        1 => Fate::Offered,
        _ => Fate::Accepted,
    }
}

async fn http(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

fn summary(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(times[times.len() / 2]), ms(times[times.len() * 9 / 10]))
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("open request counts"))
        .collect();
    let sizes = if sizes.is_empty() { vec![2000] } else { sizes };
    // The dispatcher's rate limit would pace the load generator rather than the page.
    let system = System::start_tuned(|c| {
        c.base.auth.rate_limits.dispatcher = komek_runtime::auth::gate::RateLimit {
            per_second: 1e9,
            burst: u32::MAX,
        }
    })
    .await;
    let pool = PgPool::connect(system.db.url()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let console = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let config = komek_tests::console_config(&system);
    tokio::spawn(komek_console::serve(config, listener, stop.clone()));
    let key: String = system
        .dispatcher_key
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = format!("key={key}");
    let (status, head, _) = http(
        console,
        &format!(
            "POST /sign-in HTTP/1.1\r\nHost: {console}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert_eq!(status, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let page = format!(
        "GET /queues?queue=QUEUE_ESCALATED HTTP/1.1\r\nHost: {console}\r\nConnection: close\r\nCookie: {cookie}\r\nAccept-Language: ru\r\n\r\n"
    );
    let dispatch = system.dispatch_client().await;
    println!(
        "open    3×ListQueue(100) p50/p90 ms   queue page p50/p90 ms   ratio of p50   page size"
    );
    let mut seeded = 0;
    for size in sizes {
        seed_jobs(&pool, seeded..size, open_fate).await;
        seeded = size;
        let rounds = 200;
        let mut grpc = Vec::new();
        let mut html = Vec::new();
        let mut bytes = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            let calls = [
                matching::Queue::Escalated,
                matching::Queue::Unassigned,
                matching::Queue::Overdue,
            ]
            .map(|queue| {
                let mut client = dispatch.clone();
                async move {
                    client
                        .list_queue(matching::ListQueueRequest {
                            queue: queue as i32,
                            page_size: 100,
                            ..Default::default()
                        })
                        .await
                        .unwrap()
                        .into_inner()
                }
            });
            let replies = futures::future::join_all(calls).await;
            grpc.push(t.elapsed());
            assert_eq!(replies[0].items.len(), 100.min(size / 3));
            let t = Instant::now();
            let (status, _, body) = http(console, &page).await;
            html.push(t.elapsed());
            assert_eq!(status, 200);
            bytes = body.len();
        }
        let (g50, g90) = summary(grpc);
        let (h50, h90) = summary(html);
        println!(
            "{size:<7} {g50:>8.2} / {g90:<8.2}            {h50:>8.2} / {h90:<8.2}         {:.2}x          {} KB",
            h50 / g50,
            bytes / 1024
        );
    }
    stop.cancel();
    system.stop().await;
}
