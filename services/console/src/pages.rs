//! The pages, rendered on the server in the user's language. Every text comes from
//! `komek-i18n`; everything from outside (names, subjects) is escaped.

use komek_i18n::{Arg, Lang, enum_label, text, text_with};

use komek_proto::places::v1::Settlement;

use crate::session::Session;

/// Text made safe to put inside HTML elements and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn t(lang: Lang, key: &str) -> String {
    escape(&text(lang, key))
}

/// The frame of every page: language, title, the header with the language switch and, when
/// signed in, who and a sign-out button.
pub(crate) fn layout(lang: Lang, title: &str, session: Option<&Session>, body: &str) -> String {
    let langs: String = Lang::ALL
        .iter()
        .map(|l| {
            let current = if *l == lang {
                r#" aria-current="true""#
            } else {
                ""
            };
            format!(
                r#"<a href="/lang/{code}" lang="{code}" hreflang="{code}"{current}>{name}</a>"#,
                code = l.code(),
                name = l.own_name()
            )
        })
        .collect();
    let who = match session {
        // A volunteer's phone has no room for an id: the role says enough.
        Some(s) if s.role == "ROLE_VOLUNTEER" => format!(
            r#"<span class="muted">{role}</span>
<form method="post" action="/sign-out"><input type="hidden" name="csrf" value="{csrf}"><button class="link" type="submit">{out}</button></form>"#,
            role = escape(&enum_label(lang, &s.role)),
            csrf = escape(&s.csrf),
            out = t(lang, "sign-out"),
        ),
        Some(s) => format!(
            r#"<span class="muted">{as_} {subject} ({role})</span>
<form method="post" action="/sign-out"><input type="hidden" name="csrf" value="{csrf}"><button class="link" type="submit">{out}</button></form>"#,
            as_ = t(lang, "signed-in-as"),
            subject = escape(&s.subject),
            role = escape(&enum_label(lang, &s.role)),
            csrf = escape(&s.csrf),
            out = t(lang, "sign-out"),
        ),
        None => String::new(),
    };
    let menu = match session {
        Some(s) if s.role == "ROLE_VOLUNTEER" => format!(
            r#"<nav class="menu" aria-label="{label}"><a href="/app">{offers}</a></nav>"#,
            label = t(lang, "menu-label"),
            offers = t(lang, "app-offers"),
        ),
        Some(s) if s.role == "ROLE_PARTNER" => format!(
            r#"<nav class="menu" aria-label="{label}"><a href="/partner">{requests}</a><a href="/partner/stats">{stats}</a><a href="/plans">{plans}</a></nav>"#,
            label = t(lang, "menu-label"),
            requests = t(lang, "partner-requests"),
            stats = t(lang, "partner-stats"),
            plans = t(lang, "menu-plans"),
        ),
        Some(_) => format!(
            r#"<nav class="menu" aria-label="{label}"><a href="/calls/new">{call}</a><a href="/queues">{queues}</a><a href="/roster">{roster}</a><a href="/plans">{plans}</a>
<form method="get" action="/find" class="find" role="search"><label for="find-code" class="sr-only">{find}</label><input id="find-code" name="code" type="search" placeholder="{find}" autocomplete="off"></form></nav>"#,
            label = t(lang, "menu-label"),
            call = t(lang, "menu-new-call"),
            queues = t(lang, "menu-queues"),
            roster = t(lang, "menu-roster"),
            plans = t(lang, "menu-plans"),
            find = t(lang, "menu-find"),
        ),
        None => String::new(),
    };
    format!(
        r#"<!doctype html>
<html lang="{code}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {app}</title>
<link rel="stylesheet" href="/assets/console.css">
<script src="/assets/console.js" defer></script>
</head>
<body>
<header>
<a class="brand" href="/">{app}</a>
{menu}
<nav class="account" aria-label="{nav}">{who}<span class="langs">{langs}</span></nav>
</header>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#,
        code = lang.code(),
        app = t(lang, "app-title"),
        nav = t(lang, "nav-label"),
    )
}

pub fn sign_in(lang: Lang, error: Option<&str>) -> String {
    let error = error
        .map(|key| format!(r#"<p class="error" role="alert">{}</p>"#, t(lang, key)))
        .unwrap_or_default();
    let body = format!(
        r#"<div class="card">
{error}
<form method="post" action="/sign-in">
<label for="key">{label}</label>
<input id="key" name="key" type="password" autocomplete="off" required autofocus aria-describedby="key-hint">
<p id="key-hint" class="muted">{hint}</p>
<button type="submit">{submit}</button>
</form>
</div>"#,
        label = t(lang, "sign-in-key-label"),
        hint = t(lang, "sign-in-key-hint"),
        submit = t(lang, "sign-in-submit"),
    );
    layout(lang, &t(lang, "sign-in-title"), None, &body)
}

/// How many requests wait in one queue: the count on the first page and whether there are
/// more pages, or the refusal.
pub type QueueCount = (&'static str, Result<(usize, bool), tonic::Status>);

/// The start page: how many requests wait in each queue.
pub fn home(lang: Lang, session: &Session, counts: &[QueueCount]) -> String {
    let cards: String = counts
        .iter()
        .map(|(queue, count)| {
            let shown = match count {
                Ok((n, false)) => n.to_string(),
                Ok((n, true)) => escape(&text_with(
                    lang,
                    "count-more-than",
                    &[("count", Arg::Num(*n as f64))],
                )),
                Err(_) => t(lang, "count-unavailable"),
            };
            format!(
                r#"<a class="count" href="/queues?queue={queue}"><span>{label}</span><strong>{shown}</strong></a>"#,
                label = escape(&enum_label(lang, queue)),
            )
        })
        .collect();
    let body = format!(
        r#"<p><a class="button" href="/calls/new">{call}</a></p>
<h2>{queues}</h2>
<div class="counts">{cards}</div>"#,
        call = t(lang, "menu-new-call"),
        queues = t(lang, "home-queues"),
    );
    layout(lang, &t(lang, "home-title"), Some(session), &body)
}

/// A settlement's name in `lang`: the Kazakh one for kk where the gazetteer has it, else the
/// Russian one; the English one for en.
pub fn settlement_name(lang: Lang, s: &Settlement) -> &str {
    let pick = match lang {
        Lang::Kk => [&s.name_kk, &s.name_ru, &s.name_en],
        Lang::Ru => [&s.name_ru, &s.name_kk, &s.name_en],
        Lang::En => [&s.name_en, &s.name_ru, &s.name_kk],
    };
    pick.into_iter()
        .find(|n| !n.is_empty())
        .map_or("", String::as_str)
}

/// Suggestions for the place field: one option per settlement, carrying what the form fills
/// in when it is chosen.
pub fn suggestions(lang: Lang, found: &[Settlement]) -> String {
    if found.is_empty() {
        return format!(
            r#"<p class="muted" role="status">{}</p>"#,
            t(lang, "places-none")
        );
    }
    let items: String = found
        .iter()
        .map(|s| {
            let point = s.point.unwrap_or_default();
            // The gazetteer names districts in English and Russian only.
            let district = match lang {
                Lang::En => &s.district,
                _ => &s.district_ru,
            };
            let region = crate::view::region_name(lang, &s.region);
            format!(
                r#"<li role="option" data-lat="{lat}" data-lon="{lon}" data-settlement="{en}" data-district="{d_en}" data-region="{r_en}"><strong>{name}</strong> <span class="muted">{district}, {region}</span></li>"#,
                lat = point.latitude,
                lon = point.longitude,
                en = escape(&s.name_en),
                d_en = escape(&s.district),
                r_en = escape(&s.region),
                name = escape(settlement_name(lang, s)),
                district = escape(district),
                region = escape(&region),
            )
        })
        .collect();
    format!(
        r#"<ul role="listbox" aria-label="{label}">{items}</ul>"#,
        label = t(lang, "places-label")
    )
}

pub fn refused(lang: Lang) -> String {
    let body = format!(r#"<p class="error">{}</p>"#, t(lang, "form-refused"));
    layout(lang, &t(lang, "form-refused-title"), None, &body)
}

pub fn not_found(lang: Lang) -> String {
    let body = format!(r#"<p><a href="/">{}</a></p>"#, t(lang, "back-home"));
    layout(lang, &t(lang, "not-found-title"), None, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_comes_from_outside_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn the_sign_in_page_speaks_each_language_and_has_no_inline_script() {
        for lang in Lang::ALL {
            let page = sign_in(lang, Some("sign-in-bad-key"));
            assert!(page.contains(&format!(r#"<html lang="{}">"#, lang.code())));
            assert!(page.contains(&escape(&text(lang, "sign-in-bad-key"))));
            // The only script is the console's own file.
            assert_eq!(page.matches("<script").count(), 1);
            assert!(page.contains(r#"<script src="/assets/console.js" defer></script>"#));
            assert!(!page.contains("sign-in-"), "a key was shown untranslated");
        }
    }
}
