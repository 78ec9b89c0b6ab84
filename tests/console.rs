//! The console over HTTP, against the four services: signing in with a key, the session
//! cookie, the language, CSRF and origin checks, the security headers, signing out, and a key
//! the API refuses something being refused the same through the console.

use std::net::SocketAddr;

use komek_runtime::CancellationToken;
use komek_runtime::auth::Role;
use komek_tests::{System, create_organization};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn everything(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        format!("{}\n{}", headers.join("\n"), self.body)
    }
}

/// One HTTP/1.1 request on its own connection, as a browser on this machine would send it.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

fn form_value(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The session cookie a sign-in set, as "komek_session=…".
fn session_cookie(reply: &Reply) -> String {
    let set = reply.header("set-cookie").expect("a session cookie");
    set.split(';').next().unwrap().to_string()
}

fn csrf_of(page: &str) -> String {
    let at = page.find(r#"name="csrf" value=""#).expect("a CSRF field") + 19;
    page[at..].split('"').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dispatcher_signs_in_sees_the_queues_in_kazakh_and_signs_out() {
    let system = System::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let console = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let config = komek_console::Config {
        sign_in_per_minute: 1,
        sign_in_burst: 6,
        ..komek_tests::console_config(&system)
    };
    let server = tokio::spawn(komek_console::serve(config, listener, stop.clone()));
    let origin = format!("http://{console}");
    let kk = ("Accept-Language", "kk-KZ,kk;q=0.9,ru;q=0.8");
    let from_here = ("Origin", origin.as_str());

    // Not signed in: sent to sign in, a page in the browser's language with a strict policy.
    let start = http(console, "GET", "/", &[kk], "").await;
    assert_eq!(start.status, 303);
    assert_eq!(start.header("location"), Some("/sign-in"));
    let page = http(console, "GET", "/sign-in", &[kk], "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"<html lang="kk">"#));
    assert!(page.body.contains("Қолжетімділік кілтіңіз"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));

    // A wrong key is refused in Kazakh; a sign-in posted from another site is refused outright.
    let wrong = http(
        console,
        "POST",
        "/sign-in",
        &[kk, from_here],
        "key=kmk_not_a_real_key",
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Кілт жарамсыз"), "{}", wrong.body);
    let body = format!("key={}", form_value(&system.dispatcher_key));
    let elsewhere = http(
        console,
        "POST",
        "/sign-in",
        &[kk, ("Origin", "https://evil.example")],
        &body,
    )
    .await;
    assert_eq!(elsewhere.status, 403);
    assert!(elsewhere.header("set-cookie").is_none());

    // The right key: a session cookie only the server can read, and the key nowhere in sight.
    let signed = http(console, "POST", "/sign-in", &[kk, from_here], &body).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let set = signed.header("set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Max-Age=")
    );
    assert!(!signed.everything().contains(&system.dispatcher_key));
    let cookie = session_cookie(&signed);
    let home = http(console, "GET", "/", &[kk, ("Cookie", &cookie)], "").await;
    assert_eq!(home.status, 200);
    assert!(!home.everything().contains(&system.dispatcher_key));
    for label in [
        "Диспетчерге жіберілгендер",
        "Тағайындалмағандар",
        "Мерзімі өткендер",
    ] {
        assert!(home.body.contains(label), "{label} missing:\n{}", home.body);
    }
    assert!(
        home.body.contains("<strong>0</strong>"),
        "empty queues count 0"
    );
    // Enum names appear in links only, never as text a person reads.
    assert!(
        !home.body.replace("queue=QUEUE_", "").contains("QUEUE_"),
        "no raw enum names"
    );

    // Settlement suggestions for the place field, as the user, in the user's language.
    let typed = format!("/places?q={}", form_value("Шиел"));
    let kk_places = http(console, "GET", &typed, &[kk, ("Cookie", &cookie)], "").await;
    assert_eq!(kk_places.status, 200);
    assert!(
        kk_places.body.contains("<strong>Шиелі</strong>"),
        "{}",
        kk_places.body
    );
    assert!(kk_places.body.contains(r#"data-region="Kyzylorda Region""#));
    let anonymous = http(console, "GET", &typed, &[kk], "").await;
    assert_eq!(anonymous.status, 401);
    let hidden = format!("/places?q={}", form_value("Шиел\u{202e}"));
    let refused = http(console, "GET", &hidden, &[kk, ("Cookie", &cookie)], "").await;
    assert_eq!(refused.status, 400);

    // The language switch is remembered over the browser's choice.
    let switched = http(console, "GET", "/lang/ru", &[kk], "").await;
    let lang_cookie = switched
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let both = format!("{cookie}; {lang_cookie}");
    let home_ru = http(console, "GET", "/", &[kk, ("Cookie", &both)], "").await;
    assert!(home_ru.body.contains(r#"<html lang="ru">"#));
    assert!(home_ru.body.contains("Эскалированные"));
    let ru_places = http(console, "GET", &typed, &[("Cookie", &both)], "").await;
    assert!(
        ru_places.body.contains("<strong>Шиели</strong>"),
        "{}",
        ru_places.body
    );

    // Signing out needs the session's CSRF token from its own page.
    let forged = http(
        console,
        "POST",
        "/sign-out",
        &[kk, from_here, ("Cookie", &cookie)],
        "csrf=forged",
    )
    .await;
    assert_eq!(forged.status, 403);
    let still = http(console, "GET", "/", &[kk, ("Cookie", &cookie)], "").await;
    assert_eq!(still.status, 200, "a forged sign-out does nothing");
    let csrf = csrf_of(&home.body);
    let out = http(
        console,
        "POST",
        "/sign-out",
        &[kk, from_here, ("Cookie", &cookie)],
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let after = http(console, "GET", "/", &[kk, ("Cookie", &cookie)], "").await;
    assert_eq!(after.status, 303, "the old cookie no longer signs in");

    // A partner's key signs in, but the queues the API refuses it are refused here too.
    let mut roster = system.roster_client().await;
    let org = create_organization(
        &mut roster,
        "Қызылорда жастары",
        komek_proto::roster::v1::OrganizationKind::YouthWing,
        &[],
    )
    .await;
    let partner = system.issue_key(Role::Partner, &org.name, &[]).await;
    let body = format!("key={}", form_value(&partner));
    let signed = http(console, "POST", "/sign-in", &[kk, from_here], &body).await;
    assert_eq!(signed.status, 303);
    let theirs = ("Cookie", session_cookie(&signed));
    let home = http(console, "GET", "/", &[kk, (theirs.0, &theirs.1)], "").await;
    assert_eq!(home.status, 303);
    assert_eq!(
        home.header("location"),
        Some("/partner"),
        "a partner's start is the portal"
    );
    let queues = http(console, "GET", "/queues", &[kk, (theirs.0, &theirs.1)], "").await;
    assert!(
        !queues.body.contains("<strong class=\"n\">0</strong>"),
        "no queue shown to a partner"
    );
    assert!(queues.body.contains("Кілтіңіз бұған рұқсат бермейді"));

    // Guessing keys from one address runs out of attempts.
    let mut last = 0;
    for _ in 0..8 {
        last = http(console, "POST", "/sign-in", &[kk, from_here], "key=guess")
            .await
            .status;
    }
    assert_eq!(last, 429);

    stop.cancel();
    server.await.unwrap().unwrap();
    system.stop().await;
}

/// The value of the hidden field `name` on `page`.
fn hidden_of(page: &str, name: &str) -> String {
    let needle = format!(r#"name="{name}" value=""#);
    let at = page.find(&needle).expect("the hidden field") + needle.len();
    page[at..].split('"').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_is_recorded_once_and_refusals_come_back_as_sentences_on_the_form() {
    let system = System::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let console = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let config = komek_tests::console_config(&system);
    let server = tokio::spawn(komek_console::serve(config, listener, stop.clone()));
    let origin = format!("http://{console}");
    let ru = ("Accept-Language", "ru-RU,ru;q=0.9");
    let from_here = ("Origin", origin.as_str());
    let body = format!("key={}", form_value(&system.dispatcher_key));
    let signed = http(console, "POST", "/sign-in", &[ru, from_here], &body).await;
    let cookie = session_cookie(&signed);
    let me = ("Cookie", cookie.as_str());

    let form = http(console, "GET", "/calls/new", &[ru, me], "").await;
    assert_eq!(form.status, 200);
    let csrf = csrf_of(&form.body);
    let request_id = hidden_of(&form.body, "request_id");
    // No script: the settlement is typed, not picked; a phone Komek does not take.
    let call = |phone: &str| {
        format!(
            "csrf={csrf}&request_id={request_id}&channel=CHANNEL_HOTLINE&caller_name={}&caller_phone={}&place={}&note={}&quantity=2&unit=t",
            form_value("Гульнар"),
            form_value(phone),
            form_value("Шиели"),
            form_value("Пенсионерке нужен уголь <срочно>"),
        )
    };
    let refused = http(
        console,
        "POST",
        "/calls",
        &[ru, from_here, me],
        &call("12345"),
    )
    .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused
            .body
            .contains("Пенсионерке нужен уголь &lt;срочно&gt;"),
        "what was typed comes back, escaped"
    );
    assert!(
        !refused.body.contains("caller.phone"),
        "no field paths shown"
    );
    // Three settlements are called Шиели: the form offers them to pick from.
    assert!(
        refused.body.contains("Проверьте: Место."),
        "{}",
        refused.body
    );
    let picks = refused.body.matches(r#"name="pick""#).count();
    assert!(picks >= 3, "{picks} choices");
    let kyzylorda = refused
        .body
        .split(r#"name="pick" value=""#)
        .skip(1)
        .map(|v| v.split('"').next().unwrap().to_string())
        .find(|v| v.ends_with("|Kyzylorda Region"))
        .expect("Shieli of Kyzylorda Region among the choices");
    let picked = |phone: &str| format!("{}&pick={}", call(phone), form_value(&kyzylorda));
    let refused = http(
        console,
        "POST",
        "/calls",
        &[ru, from_here, me],
        &picked("12345"),
    )
    .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("Проверьте: Телефон."),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains(r#"aria-describedby="caller-phone-error""#)
    );
    assert_eq!(hidden_of(&refused.body, "region"), "Kyzylorda Region");
    let call = picked;

    // Corrected: recorded, and a resend of the same form records nothing new.
    let saved = http(
        console,
        "POST",
        "/calls",
        &[ru, from_here, me],
        &call("8 (701) 555-44-21"),
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let location = saved.header("location").unwrap().to_string();
    let again = http(
        console,
        "POST",
        "/calls",
        &[ru, from_here, me],
        &call("8 (701) 555-44-21"),
    )
    .await;
    assert_eq!(again.header("location"), Some(location.as_str()));
    let page = http(console, "GET", &location, &[ru, me], "").await;
    assert!(page.body.contains(r#"class="refcode""#));
    let id = location
        .trim_start_matches("/calls/")
        .trim_end_matches("/saved");
    let request = http(console, "GET", &format!("/requests/{id}"), &[ru, me], "").await;
    assert_eq!(request.status, 200);
    assert!(
        request.body.contains("+77015554421"),
        "a dispatcher sees the caller"
    );

    // Triage corrected by hand: category, priority and skills, with a reason.
    let page_of = format!("/requests/{id}");
    let mut triaged = false;
    for _ in 0..100 {
        let p = http(console, "GET", &page_of, &[ru, me], "").await;
        if p.body.contains("model.category") {
            triaged = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(triaged, "triage decided");
    let corrected = http(
        console,
        "POST",
        &format!("/requests/{id}/override"),
        &[ru, from_here, me],
        &format!(
            "csrf={csrf}&category=CATEGORY_FUEL_DELIVERY&priority=PRIORITY_HIGH&skill=SKILL_VEHICLE_CARGO&skill=SKILL_SOCIAL_CARE&reason={}",
            form_value("Пенсионерка одна, печь не топится")
        ),
    )
    .await;
    assert_eq!(corrected.status, 303, "{}", corrected.body);
    let page = http(console, "GET", &page_of, &[ru, me], "").await;
    // The decision's skills are the ones ticked in the form now shown again.
    assert!(
        page.body.contains(r#"value="SKILL_SOCIAL_CARE" checked"#),
        "the skills were set"
    );
    assert!(page.body.contains(r#"value="SKILL_VEHICLE_CARGO" checked"#));
    assert!(
        !page
            .body
            .contains(r#"value="SKILL_GENERAL_LABOUR" checked"#)
    );
    assert!(
        page.body.contains("Пенсионерка одна, печь не топится"),
        "the reason is in the audit"
    );

    // Cancelling needs a reason; the refusal names it in Russian.
    let cancel = format!("/requests/{id}/cancel");
    let no_reason = http(
        console,
        "POST",
        &cancel,
        &[ru, from_here, me],
        &format!("csrf={csrf}&reason="),
    )
    .await;
    assert_eq!(no_reason.status, 422);
    assert!(
        no_reason.body.contains("Проверьте: Причина."),
        "{}",
        no_reason.body
    );
    let forged = http(
        console,
        "POST",
        &cancel,
        &[ru, ("Origin", "http://evil.example"), me],
        &format!("csrf={csrf}&reason=x"),
    )
    .await;
    assert_eq!(forged.status, 403);

    // A partner's key: what the API refuses that key, the console refuses too.
    let mut roster = system.roster_client().await;
    let org = create_organization(
        &mut roster,
        "Қызылорда жастары",
        komek_proto::roster::v1::OrganizationKind::YouthWing,
        &[],
    )
    .await;
    let partner = system.issue_key(Role::Partner, &org.name, &[]).await;
    let body = format!("key={}", form_value(&partner));
    let signed = http(console, "POST", "/sign-in", &[ru, from_here], &body).await;
    let partner_cookie = session_cookie(&signed);
    let them = ("Cookie", partner_cookie.as_str());
    let their_form = http(console, "GET", "/calls/new", &[ru, them], "").await;
    let their_csrf = csrf_of(&their_form.body);
    let taken = http(
        console,
        "POST",
        &cancel,
        &[ru, from_here, them],
        &format!("csrf={their_csrf}&reason={}", form_value("не нужно")),
    )
    .await;
    assert_eq!(taken.status, 403, "{}", taken.body);
    assert!(taken.body.contains("Ваш ключ не даёт права на это"));
    let queue = http(console, "GET", "/queues", &[ru, them], "").await;
    assert!(queue.body.contains("Ваш ключ не даёт права на это"));
    let still = http(console, "GET", &format!("/requests/{id}"), &[ru, me], "").await;
    assert!(
        !still.body.contains("Отменена"),
        "the partner cancelled nothing"
    );
    assert!(
        !still.body.contains("/erase"),
        "nothing to erase before the request is finished"
    );

    // Cancelled, then the caller asks to be forgotten: the only action left is the erasure,
    // which needs a reason and then leaves neither phone nor note on the page.
    let cancelled = http(
        console,
        "POST",
        &cancel,
        &[ru, from_here, me],
        &format!("csrf={csrf}&reason={}", form_value("Звонивший передумал")),
    )
    .await;
    assert_eq!(cancelled.status, 303, "{}", cancelled.body);
    let finished = http(console, "GET", &page_of, &[ru, me], "").await;
    assert!(finished.body.contains("Стереть личные данные звонившего"));
    assert!(finished.body.contains("+77015554421"));
    let erase = format!("/requests/{id}/erase");
    let no_reason = http(
        console,
        "POST",
        &erase,
        &[ru, from_here, me],
        &format!("csrf={csrf}&reason="),
    )
    .await;
    assert_eq!(no_reason.status, 422);
    assert!(no_reason.body.contains("Проверьте: Причина."));
    let erased = http(
        console,
        "POST",
        &erase,
        &[ru, from_here, me],
        &format!(
            "csrf={csrf}&reason={}",
            form_value("Звонившая просит удалить её данные")
        ),
    )
    .await;
    assert_eq!(erased.status, 303, "{}", erased.body);
    let after = http(
        console,
        "GET",
        &format!("{page_of}?done=erase"),
        &[ru, me],
        "",
    )
    .await;
    assert!(after.body.contains("Личные данные стёрты."), "the notice");
    assert!(
        after.body.contains("Звонившая просит удалить её данные"),
        "why, in the status"
    );
    assert!(after.body.contains("Текст обращения стёрт"));
    assert!(!after.body.contains("+77015554421"), "the phone is gone");
    assert!(!after.body.contains(&erase), "nothing left to erase");
    assert!(!after.body.contains("нужен уголь"), "the note is gone");

    stop.cancel();
    server.await.unwrap().unwrap();
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_roster_import_is_previewed_then_applied_and_a_bad_sheet_changes_nothing() {
    let system = System::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let console = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let config = komek_tests::console_config(&system);
    let server = tokio::spawn(komek_console::serve(config, listener, stop.clone()));
    let origin = format!("http://{console}");
    let kk = ("Accept-Language", "kk");
    let from_here = ("Origin", origin.as_str());
    let mut roster = system.roster_client().await;
    let org = create_organization(
        &mut roster,
        "Алматы облысы көмір жеткізу",
        komek_proto::roster::v1::OrganizationKind::AkimatService,
        &["Almaty Region"],
    )
    .await;
    let body = format!("key={}", form_value(&system.dispatcher_key));
    let signed = http(console, "POST", "/sign-in", &[kk, from_here], &body).await;
    let cookie = session_cookie(&signed);
    let me = ("Cookie", cookie.as_str());
    let page = http(console, "GET", "/roster", &[kk, me], "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Алматы облысы көмір жеткізу"));
    let csrf = csrf_of(&page.body);

    let sheet = "group,settlement,district,region,lat,lon,radius_km,skills,capacity,languages,volunteer\n\
Shelek coal truck,Shelek,Enbekshikazakhskiy,Almaty Region,43.59623,78.25745,80,vehicle_cargo:5,2,kk;ru,Ольга Ким\n";
    let bad = sheet.replace("43.59623", "север");
    let post = |csv: &str, step: &str| {
        format!(
            "csrf={csrf}&organization={}&step={step}&csv={}",
            form_value(&org.name),
            form_value(csv)
        )
    };
    // A bad row: told in Kazakh by line and column, and nothing to apply.
    let refused = http(
        console,
        "POST",
        "/roster/import",
        &[kk, from_here, me],
        &post(&bad, "preview"),
    )
    .await;
    assert_eq!(refused.status, 200);
    assert!(refused.body.contains("Сан емес."), "{}", refused.body);
    assert!(refused.body.contains("<code>lat</code>"));
    assert!(
        !refused.body.contains(r#"value="apply""#),
        "nothing to apply"
    );

    // A good sheet: what would change, then applied with the same text.
    let preview = http(
        console,
        "POST",
        "/roster/import",
        &[kk, from_here, me],
        &post(sheet, "preview"),
    )
    .await;
    assert!(preview.body.contains("1 топ құрылады"), "{}", preview.body);
    assert!(preview.body.contains(r#"value="apply""#));
    let groups = roster
        .list_groups(komek_proto::roster::v1::ListGroupsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .groups;
    assert!(groups.is_empty(), "a preview changes nothing");
    let request_id = hidden_of(&preview.body, "request_id");
    let apply = format!("{}&request_id={request_id}", post(sheet, "apply"));
    let applied = http(
        console,
        "POST",
        "/roster/import",
        &[kk, from_here, me],
        &apply,
    )
    .await;
    assert!(
        applied.body.contains("Дайын: 1 топ құрылды"),
        "{}",
        applied.body
    );
    assert!(
        applied.body.contains("Shelek coal truck"),
        "the group is listed"
    );
    let again = http(
        console,
        "POST",
        "/roster/import",
        &[kk, from_here, me],
        &apply,
    )
    .await;
    assert!(
        again.body.contains("Дайын: 1 топ құрылды"),
        "a resend is the same import"
    );
    let groups = roster
        .list_groups(komek_proto::roster::v1::ListGroupsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .groups;
    assert_eq!(groups.len(), 1);

    stop.cancel();
    server.await.unwrap().unwrap();
    system.stop().await;
}

/// A request that waits past its limit is listed above the queues, in the reader's language,
/// and leaves the list once a dispatcher acts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_waiting_too_long_stand_above_the_queues() {
    let system = System::start_tuned_intake(|c| {
        let two = komek_core::waiting::PerPriority {
            critical_secs: Some(2),
            high_secs: Some(2),
            normal_secs: Some(2),
            low_secs: Some(2),
        };
        c.waiting_limits.escalated = two;
        c.waiting_sweep_secs = 1;
    })
    .await;
    let stop = CancellationToken::new();
    let console = komek_tests::start_console(&system, &stop).await;
    let origin = format!("http://{console}");
    let ru = ("Accept-Language", "ru");
    let body = format!("key={}", form_value(&system.dispatcher_key));
    let signed = http(
        console,
        "POST",
        "/sign-in",
        &[ru, ("Origin", origin.as_str())],
        &body,
    )
    .await;
    let cookie = session_cookie(&signed);
    let me = ("Cookie", cookie.as_str());

    // Nobody can take coal to Aral: escalated, and after two seconds waiting too long.
    let mut intake = system.intake_client().await;
    let aral = komek_tests::settlements::find("Aral", "Kyzylorda Region");
    let call = komek_tests::create_request(
        &mut intake,
        None,
        aral,
        komek_tests::at(aral),
        "Қарт кісіге көмір керек",
    )
    .await;
    komek_tests::wait_request(&intake, &call.name, "alerted", |r| r.waiting.is_some()).await;
    let page = http(console, "GET", "/queues", &[ru, me], "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Ждут слишком долго: 1"), "{}", page.body);
    assert!(page.body.contains("Ждёт диспетчера"));
    assert!(page.body.contains(&call.reference_code));
    let fragment = http(console, "GET", "/queues/table", &[ru, me], "").await;
    assert!(fragment.body.contains("Ждут слишком долго: 1"));

    // Cancelled: nobody waits any more.
    intake
        .cancel_request(komek_proto::intake::v1::CancelRequestRequest {
            name: call.name.clone(),
            reason: "the family brought coal".into(),
            request_id: uuid::Uuid::new_v4().to_string(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let page = http(console, "GET", "/queues", &[ru, me], "").await;
    assert!(!page.body.contains("Ждут слишком долго"), "{}", page.body);

    stop.cancel();
    system.stop().await;
}
