//! A real browser for the console's tests: Debian's headless Chromium driven through
//! chromedriver over the W3C WebDriver protocol (JSON over HTTP, spoken here directly), with
//! axe-core injected for the accessibility checks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The WebDriver key codes the tests press.
pub const ENTER: &str = "\u{E007}";

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Where axe-core's script is: `KOMEK_AXE_JS`, else where `deploy/lib.sh` puts it.
pub fn axe_source() -> String {
    let path = std::env::var_os("KOMEK_AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/komek-tools/axe.min.js")
        });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is missing at {} ({e}); deploy/test.sh installs it",
            path.display()
        )
    })
}

/// Fails the test with axe-core's serious or critical findings on the current page, if any.
pub async fn assert_accessible(browser: &Browser, axe: &str, screen: &str) {
    let problems = browser.accessibility_problems(axe).await;
    assert!(
        problems.is_empty(),
        "{screen}: axe found serious or critical problems:\n{}",
        problems.join("\n")
    );
}

/// Runs a browser scenario: one at a time in the test binary (each starts Chromium and the
/// whole system, and two cores are enough for one), on a thread with room for it (the future
/// of a scenario this long outgrows a test thread's 2 MiB stack in debug builds).
pub fn run_scenario<F, Fut>(scenario: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .unwrap()
                .block_on(scenario());
        })
        .unwrap()
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

/// One headless Chromium whose browser language is `lang`.
pub struct Browser {
    driver: tokio::process::Child,
    addr: SocketAddr,
    session: String,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    pub async fn start(lang: &str) -> Browser {
        Self::start_with(lang, None).await
    }

    /// A browser that looks like a phone: a `width`×`height` viewport, touch, a phone's user
    /// agent.
    pub async fn phone(lang: &str, width: u32, height: u32) -> Browser {
        Self::start_with(lang, Some((width, height))).await
    }

    async fn start_with(lang: &str, phone: Option<(u32, u32)>) -> Browser {
        let driver_bin = which(&["chromedriver"])
            .expect("chromedriver not found: deploy/test.sh installs chromium-driver");
        let browser_bin = which(&["chromium", "chromium-browser"])
            .expect("chromium not found: deploy/test.sh installs chromium");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = tokio::process::Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(v) = call(addr, "GET", "/status", None).await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser_bin,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1000", format!("--lang={lang}"),
                    "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                    "--force-device-scale-factor=1"
                ],
                "prefs": {"intl": {"accept_languages": lang}}
            }
        }}});
        if let Some((width, height)) = phone {
            caps["capabilities"]["alwaysMatch"]["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "touch": true},
                "userAgent": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36"
            });
        }
        let reply = call(addr, "POST", "/session", Some(caps))
            .await
            .expect("a browser session");
        let session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {reply}"))
            .to_string();
        let browser = Browser {
            driver,
            addr,
            session,
        };
        browser
            .post("timeouts", json!({"script": 60_000, "implicit": 0}))
            .await;
        browser
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let path = format!("/session/{}/{path}", self.session);
        let v = call(self.addr, "POST", &path, Some(body))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        if v["value"]["error"].is_string() {
            panic!("{path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    async fn get(&self, path: &str) -> Value {
        let path = format!("/session/{}/{path}", self.session);
        let v = call(self.addr, "GET", &path, None)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        if v["value"]["error"].is_string() {
            panic!("{path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.post("url", json!({ "url": url })).await;
    }

    pub async fn url(&self) -> String {
        self.get("url").await.as_str().unwrap_or("").to_string()
    }

    /// The first element `css` selects, waiting up to 20 s for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self
                .post("elements", json!({"using": "css selector", "value": css}))
                .await;
            if let Some(id) = found
                .as_array()
                .and_then(|a| a.first())
                .and_then(|e| e[ELEMENT].as_str())
            {
                return Element(id.to_string());
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.post(&format!("element/{}/click", e.0), json!({}))
            .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.post(&format!("element/{}/value", e.0), json!({ "text": text }))
            .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.get(&format!("element/{}/text", e.0))
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// Waits up to `within` for `script` to return true.
    pub async fn wait_until(&self, what: &str, within: Duration, script: &str, args: Vec<Value>) {
        let deadline = Instant::now() + within;
        loop {
            if self.run(script, args.clone()).await == Value::Bool(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waited {within:?} for {what} on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits up to `within` for the text of `css` to contain `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str, within: Duration) {
        self.wait_until(
            &format!("{needle:?} in {css}"),
            within,
            "const e = document.querySelector(arguments[0]); return !!e && e.textContent.includes(arguments[1]);",
            vec![json!(css), json!(needle)],
        )
        .await;
    }

    /// The page's HTML as the browser has it now.
    pub async fn source(&self) -> String {
        self.get("source").await.as_str().unwrap_or("").to_string()
    }

    /// The value of the cookie `name`, HttpOnly ones included (WebDriver sees them all).
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let all = self.get("cookie").await;
        all.as_array()?
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["value"].as_str())
            .map(str::to_string)
    }

    /// A Chrome DevTools command, e.g. to grant a permission or pretend to be somewhere.
    pub async fn devtools(&self, cmd: &str, params: Value) -> Value {
        self.post("goog/cdp/execute", json!({ "cmd": cmd, "params": params }))
            .await
    }

    /// The whole page as a PNG: the window is stretched to the page's height (at most
    /// 4,000 pixels) for the shot and put back after it.
    pub async fn full_screenshot(&self) -> Vec<u8> {
        let height = self
            .run("return document.documentElement.scrollHeight;", vec![])
            .await
            .as_u64()
            .unwrap_or(1000)
            .clamp(600, 4000);
        self.post("window/rect", json!({"width": 1280, "height": height + 90}))
            .await;
        let png = self.screenshot().await;
        self.post("window/rect", json!({"width": 1280, "height": 1000}))
            .await;
        png
    }

    /// The window as a PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        let b64 = self.get("screenshot").await;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or(""))
            .expect("a base64 PNG")
    }

    /// axe-core's findings on the current page with impact serious or critical, as
    /// "rule: target" lines.
    pub async fn accessibility_problems(&self, axe: &str) -> Vec<String> {
        self.run(axe, vec![]).await;
        let result = self
            .post(
                "execute/async",
                json!({
                    "script": "const done = arguments[arguments.length - 1]; axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done([{id: 'axe-error', impact: 'critical', nodes: [{target: [String(e)]}]}]));",
                    "args": []
                }),
            )
            .await;
        result
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(|v| {
                let targets: Vec<String> = v["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|n| n["target"].to_string())
                    .collect();
                format!(
                    "{}: {}",
                    v["id"].as_str().unwrap_or("?"),
                    targets.join(", ")
                )
            })
            .collect()
    }

    pub async fn close(mut self) {
        let path = format!("/session/{}", self.session);
        let _ = call(self.addr, "DELETE", &path, None).await;
        let _ = self.driver.kill().await;
    }
}

/// One WebDriver command over its own connection.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    // chromedriver keeps connections open whatever the request asks: read the head, then
    // exactly the body it announces.
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let at = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the head".into());
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase();
    let mut payload = raw[at + 4..].to_vec();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(length) => {
            while payload.len() < length {
                let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                payload.extend_from_slice(&buf[..n]);
            }
        }
        None => {
            stream
                .read_to_end(&mut payload)
                .await
                .map_err(|e| e.to_string())?;
            if head.contains("transfer-encoding: chunked") {
                payload = dechunk(&payload);
            }
        }
    }
    serde_json::from_slice(&payload).map_err(|e| format!("{e}: {head}"))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(at) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..at]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = at + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}
